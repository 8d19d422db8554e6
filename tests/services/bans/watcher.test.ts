// The watcher over lines handed to it, a recording firewall and a hand-moved clock: bans after
// maxFailures within the window, growing bans, the allow-list and loopback, expiry, a restart
// that re-applies what is left, and `unban` from another process's side (the book).
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { bansSettings } from "../../../config/sections/bans.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { currentBans, liftBan } from "../../../services/bans/operator.ts";
import { startBanWatcher, type BanWatcher } from "../../../services/bans/watcher.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { ManualClock } from "../../mailservers/outbound/relay/manual-clock.ts";
import { recordingFirewall } from "./recording-firewall.ts";

const MIN = 60_000;
const authFailed = (remote: string) =>
  JSON.stringify({ level: 30, name: "semail-outbound", session: "x", remote, username: "a", msg: "auth failed" });

async function rig(t: TestContext, raw: Record<string, unknown> = {}) {
  const settings = bansSettings.parse({
    maxFailures: 3,
    window: "1m",
    firstBan: "10m",
    growth: 2,
    maxBan: "1h",
    stateDir: await tempDir(t, "semail-bans-"),
    ...raw,
  });
  const clock = new ManualClock();
  const firewall = recordingFirewall();
  const watchers: BanWatcher[] = [];
  t.after(async () => {
    for (const w of watchers) await w.stop();
  });
  const start = async () => {
    const watcher = await startBanWatcher({ settings, firewall, clock, logger: silentLogger() });
    watchers.push(watcher);
    return watcher;
  };
  const fail = async (watcher: BanWatcher, address: string, times: number) => {
    for (let i = 0; i < times; i++) watcher.line("smtp", authFailed(address));
    await watcher.settled();
  };
  return { settings, clock, firewall, start, fail };
}

test("maxFailures within the window ban an address; fewer, or spread wider, do not", async (t) => {
  const { clock, firewall, start, fail, settings } = await rig(t);
  const watcher = await start();
  await fail(watcher, "192.0.2.7", 2);
  clock.advance(MIN);
  await fail(watcher, "192.0.2.7", 2);
  assert.deepEqual([...firewall.banned], [], "2 and 2 failures a minute apart: never 3 within the window");
  await fail(watcher, "192.0.2.7", 1);
  assert.deepEqual([...firewall.banned], ["192.0.2.7"]);
  const [entry] = await currentBans(settings.stateDir, clock.now());
  assert.deepEqual([entry?.offences, entry?.until], [1, clock.now() + 10 * MIN]);
});

test("a ban ends on time, and the next one of the same address lasts growth times longer", async (t) => {
  const { clock, firewall, start, fail, settings } = await rig(t);
  const watcher = await start();
  await fail(watcher, "2001:db8::7", 3);
  clock.advance(10 * MIN - 1);
  await watcher.settled();
  assert.deepEqual([...firewall.banned], ["2001:db8::7"], "still banned a millisecond before the end");
  clock.advance(1);
  await watcher.settled();
  assert.deepEqual([...firewall.banned], [], "lifted at its end");
  await fail(watcher, "2001:db8::7", 3);
  const [entry] = await currentBans(settings.stateDir, clock.now());
  assert.deepEqual([entry?.offences, (entry!.until - clock.now()) / MIN], [2, 20]);
});

test("loopback and the allow-list are never banned", async (t) => {
  const { firewall, start, fail } = await rig(t, { allow: ["198.51.100.0/24", "2001:db8:1::/48"] });
  const watcher = await start();
  for (const address of ["127.0.0.1", "::1", "198.51.100.9", "2001:db8:1::9", "::ffff:198.51.100.9"])
    await fail(watcher, address, 10);
  assert.deepEqual([...firewall.banned], []);
  await fail(watcher, "198.51.101.9", 3);
  assert.deepEqual([...firewall.banned], ["198.51.101.9"], "the address next door is banned");
});

test("a restart puts unexpired bans back and lifts the ones that ended while it was stopped", async (t) => {
  const { clock, firewall, start, fail, settings } = await rig(t);
  const first = await start();
  await fail(first, "192.0.2.1", 3);
  clock.advance(5 * MIN);
  await fail(first, "192.0.2.2", 3);
  await first.stop();
  // A reboot: the kernel's rules are gone, the book is not.
  await firewall.uninstall();
  clock.advance(6 * MIN);
  const second = await start();
  assert.deepEqual([...firewall.banned], ["192.0.2.2"], "192.0.2.1's ban ended at 10 min; 192.0.2.2's runs to 15");
  assert.deepEqual(
    (await currentBans(settings.stateDir, clock.now())).map((e) => e.address),
    ["192.0.2.2"],
  );
  clock.advance(4 * MIN);
  await second.settled();
  assert.deepEqual([...firewall.banned], [], "the re-applied ban ends on time too");
});

test("unban lifts a ban from the book and the firewall at once, and forgives the offences", async (t) => {
  const { clock, firewall, start, fail, settings } = await rig(t);
  const watcher = await start();
  await fail(watcher, "192.0.2.7", 3);
  assert.equal(await liftBan(settings.stateDir, firewall, "192.0.2.7"), true);
  assert.deepEqual([...firewall.banned], []);
  assert.deepEqual(await currentBans(settings.stateDir, clock.now()), []);
  assert.equal(await liftBan(settings.stateDir, firewall, "192.0.2.7"), false, "a second unban finds nothing");
  clock.advance(10 * MIN);
  await watcher.settled();
  await fail(watcher, "192.0.2.7", 3);
  const [entry] = await currentBans(settings.stateDir, clock.now());
  assert.equal(entry?.offences, 1, "the next ban starts again at firstBan");
});
