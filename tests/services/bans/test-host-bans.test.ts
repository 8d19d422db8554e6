// Bans for real: the outbound daemon listens on this machine's end of a test host's veth pair,
// the watcher follows its log file (tail -F) and writes iptables rules in a chain of the test's
// own. The test host fails AUTH maxFailures times and its next connection is refused; `semail
// bans unban` lets it in again; a ban ends on time (a hand-moved clock); a watcher started after
// a reboot's empty firewall puts an unexpired ban back; an allow-listed host is never banned.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import { stringify } from "yaml";
import { bansSettings } from "../../../config/sections/bans.ts";
import { createLogger } from "../../../lib/logger.ts";
import { iptablesFirewall } from "../../../services/bans/firewall.ts";
import { startBanWatcher } from "../../../services/bans/watcher.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";
import { daemonSettings, startDaemon } from "../../mailservers/outbound/daemon-fixture.ts";
import { ManualClock } from "../../mailservers/outbound/relay/manual-clock.ts";
import { capturedLines } from "./log-capture.ts";
import { startTestHost } from "./test-host.ts";

const exec = promisify(execFile);
const MIN = 60_000;
const NOBODY = {
  authenticate: async () => ({ ok: false as const }),
  isAdmin: async () => false,
  close: async () => {},
};
const CLIENT = join(import.meta.dirname, "netns-smtp-client.ts");

interface Outcome {
  readonly greeting?: number;
  readonly auth?: number;
  readonly error?: string;
}

/** The test host, an outbound daemon for it logging to a file, and the bans' settings and firewall. */
async function rig(t: TestContext, allowTestHost = false) {
  const dir = await tempDir(t, "semail-bans-e2e-");
  const host = await startTestHost(t);
  const logFile = join(dir, "outbound.log");
  const daemon = await startDaemon(
    t,
    await daemonSettings(dir, {
      outbound: {
        listen: [`${host.serverAddress}:0`],
        containerNetworks: [host.network],
        // AUTH without TLS from the test host, as from a user's container.
        trustedNetworks: [host.network],
      },
    }),
    {
      directory: NOBODY,
      logger: createLogger("info", "semail-outbound", pino.destination({ dest: logFile, sync: true })),
    },
  );
  const settings = bansSettings.parse({
    maxFailures: 3,
    window: "10m",
    firstBan: "10m",
    growth: 2,
    maxBan: "1d",
    allow: allowTestHost ? [host.network] : [],
    chain: `SEMAIL-BANS-T${process.pid}`,
    stateDir: join(dir, "bans"),
    sources: [{ parser: "smtp", command: ["tail", "-n", "+1", "-F", logFile] }],
  });
  const firewall = iptablesFirewall({ chain: settings.chain, hookFrom: settings.hookFrom });
  t.after(() => firewall.uninstall());
  const configFile = join(dir, "semail.yaml");
  await writeFile(configFile, stringify({ bans: { chain: settings.chain, stateDir: settings.stateDir } }));

  const client = async (...args: string[]): Promise<Outcome> =>
    JSON.parse(await host.run(process.execPath, [CLIENT, host.serverAddress, String(daemon.port), ...args]));
  const failAuth = async (times: number) => {
    for (let i = 0; i < times; i++)
      assert.deepEqual(await client("auth", `user${i}`, "wrong"), { greeting: 220, auth: 535 }, `attempt ${i + 1}`);
  };
  /** Waits until the test host's connections are refused (the watcher reads the log a moment later). */
  const untilRefused = () =>
    until(
      async () => (await client()).error === "ECONNREFUSED",
      "the test host's connections to be refused",
      15_000,
      100,
    );
  const semail = async (...args: string[]): Promise<string> =>
    (await exec(process.execPath, [repoPath("bin/semail.mjs"), "bans", ...args, "--config", configFile])).stdout;
  const rules = async (): Promise<string> => (await exec("iptables", ["-w", "10", "-S", settings.chain])).stdout;
  return { host, settings, firewall, client, failAuth, untilRefused, semail, rules };
}

test("a test host that keeps failing AUTH is refused, let in by unban, banned longer each time, and let in on time", {
  skip: needsRoot,
}, async (t) => {
  const { host, settings, firewall, client, failAuth, untilRefused, semail, rules } = await rig(t);
  const clock = new ManualClock(Date.now());
  const log = capturedLines();
  const watch = () => startBanWatcher({ settings, firewall, clock, logger: createLogger("debug", "semail-bans", log) });
  let watcher = await watch();
  t.after(() => watcher.stop());

  await failAuth(3);
  await untilRefused();
  assert.match(await rules(), new RegExp(`-A ${settings.chain} -s ${host.clientAddress}/32 -j REJECT`));
  assert.match(await semail("list"), new RegExp(`^${host.clientAddress}\tuntil .*\tban 1\tsmtp auth failed\n$`));

  // The operator lifts it: at once, whatever the watcher's timers say.
  assert.equal(await semail("unban", host.clientAddress), `${host.clientAddress}: ban lifted\n`);
  assert.deepEqual(await client(), { greeting: 220 });
  assert.equal(await semail("list"), "no bans\n");

  // Banned again (a first ban: unban forgave it), then it ends on the clock.
  await failAuth(3);
  await untilRefused();
  clock.advance(10 * MIN);
  await watcher.settled();
  assert.deepEqual(await client(), { greeting: 220 }, "let in when the ban ends");

  // The next ban lasts twice as long, and survives a restart of the watcher and a reboot's empty firewall.
  await failAuth(3);
  await untilRefused();
  const [entry] = JSON.parse(await semail("list", "--json")) as Array<{ offences: number; until: number }>;
  assert.deepEqual([entry?.offences, entry!.until - clock.now()], [2, 20 * MIN]);
  await watcher.stop();
  await firewall.uninstall();
  assert.deepEqual(await client(), { greeting: 220 }, "no rule is left once the chain is gone");
  clock.advance(5 * MIN);
  watcher = await watch();
  assert.equal((await client()).error, "ECONNREFUSED", "the restarted watcher put the unexpired ban back");
  clock.advance(15 * MIN);
  await watcher.settled();
  assert.deepEqual(await client(), { greeting: 220 }, "and lifted it on time");
});

test("an allow-listed test host is never banned", { skip: needsRoot }, async (t) => {
  const { settings, firewall, client, failAuth, rules } = await rig(t, true);
  const log = capturedLines();
  const watcher = await startBanWatcher({
    settings,
    firewall,
    clock: new ManualClock(Date.now()),
    logger: createLogger("debug", "semail-bans", log),
  });
  t.after(() => watcher.stop());
  await failAuth(6);
  // Proof that the watcher read all six, and let each pass: its own lines say so.
  const seen = () => log.lines.filter((line) => line.includes('"allowed":true')).length;
  await until(
    () => seen() === 6,
    () => `six allowed failures in the watcher's log (${seen()})`,
    15_000,
  );
  await watcher.settled();
  assert.doesNotMatch(await rules(), /REJECT/);
  assert.deepEqual(await client(), { greeting: 220 });
});
