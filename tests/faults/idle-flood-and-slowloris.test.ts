// Fault row: 5,000 idle connections and slowloris senders against the inbound daemon (a
// child process, so its memory is its own; the bundle with the image's node flags, as the
// daemons image runs it). The limits are the production VM's (the stack
// renders none, so the defaults: 1,000 sessions, 100 per address); the two timeouts are cut
// from 300 s to 20 s (idle) and 5 s (command) so the row ends in well under a minute.
// Claims: the limits hold (a connection over them gets 421 and is closed, not hung), the
// slowlorises are cut, memory stays under a bound, and a normal client is greeted within a
// second whenever a slot is free, with every 250'd message delivered once.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { imageEnv } from "../../bench/lib/image-env.ts";
import { processMemory } from "../../bench/lib/smaps.ts";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { until } from "../../testkit/until.ts";
import { provision, readMbox, spawnInbound, USERS, usersYaml } from "../mailservers/inbound/fixture.ts";
import { type HeldConnection, loopbackAddresses, openHeld } from "./held-connection.ts";
import { countTags, Ledger } from "./ledger.ts";
import { mib, sampleMemoryPeak } from "./memory-peak.ts";
import { recordOutcome } from "./outcome.ts";
import { slowCommandLine, slowData } from "./slowloris.ts";
import { sendTagged } from "./tagged-session.ts";

const MAX_CONNECTIONS = 1000;
const MAX_PER_IP = 100;
const IDLE_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 5_000;
const FLOOD = 5000;
/** Peak RSS with 1,000 idle sessions held and 4,110 refused: measured 97–108 MiB (idle 68–74); the bound leaves room for a busy machine. */
const RSS_BOUND = 160 * 1024 ** 2;
/** The same runs' USS (the daemon's own pages): measured 47–56 MiB (idle 19–24). */
const USS_BOUND = 96 * 1024 ** 2;
/** "Within a second", measured at 0.1–0.2 s (the 100 ms greet pause of a first visit included). */
const GREETING_BOUND_MS = 1000;

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const settled = (held: readonly HeldConnection[]) => held.every((c) => c.firstLine !== undefined || c.closed);

test("5,000 idle connections and slowloris senders: limits hold, memory bounded, a normal client still served", async (t) => {
  const dir = await tempDir(t, "semail-fault-flood-");
  const usersFile = path.join(dir, "users.yaml");
  const mailRoot = path.join(dir, "mail");
  await writeFile(usersFile, usersYaml(USERS));
  await provision(mailRoot, USERS);
  const config = path.join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      hostname: "mx.semail.test",
      managedDomain: "semail.test",
      users: usersFile,
      inbound: {
        listen: ["127.0.0.1:0"],
        mailRoot,
        minFreeSpace: "1MiB",
        maxConnections: MAX_CONNECTIONS,
        maxConnectionsPerIp: MAX_PER_IP,
        idleTimeout: IDLE_TIMEOUT_MS,
        commandTimeout: COMMAND_TIMEOUT_MS,
      },
    }),
  );
  const entry = await bundle(path.join(dir, "dist"));
  const { child, port, output } = await spawnInbound(t, config, {
    node: [...(await imageNodeFlags()), entry],
    env: { ...process.env, ...(await imageEnv()) },
  });
  const pid = child.pid!;
  const idle = await processMemory(pid);
  const to = "souleymane@sow.semail.test";
  const ledger = new Ledger();
  const held: HeldConnection[] = [];
  t.after(() => {
    for (const c of held) c.destroy();
  });
  const memory = sampleMemoryPeak(pid);
  t.after(() => memory.stop());

  // 1. Two slowlorises (a byte a second) and one address holding its whole share and more.
  const slowLine = slowCommandLine(port, "127.3.0.1", 1000, 60_000);
  const slowMessage = slowData(port, "127.3.0.2", to, 1000, 60_000);
  const oneAddress = await openHeld(port, ["127.4.0.1"], MAX_PER_IP + 10);
  held.push(...oneAddress);
  await until(() => settled(oneAddress), "the one address's connections to be answered", 30_000);
  assert.equal(oneAddress.filter((c) => c.greeted).length, MAX_PER_IP, "one address gets its share");
  const overPerIp = oneAddress.filter((c) => !c.greeted);
  assert.equal(overPerIp.length, 10);
  assert.ok(
    overPerIp.every((c) => c.firstLine?.startsWith("421 4.7.0 ")),
    `over the per-address limit: ${overPerIp[0]?.firstLine}`,
  );

  // 2. Meanwhile a normal client from another address is greeted at once and served.
  const during = await sendTagged({ port, localAddress: "127.5.0.1", to, numbers: range(1, 10), ledger });
  assert.match(during.greeting, /^220 /);
  assert.ok(during.greetingMs < GREETING_BOUND_MS, `greeting took ${during.greetingMs} ms`);

  // 3. Each slowloris is cut, with 421, about the command timeout after its first byte.
  const [line, message] = await Promise.all([slowLine, slowMessage]);
  for (const [what, result] of [
    ["command line", line],
    ["DATA", message],
  ] as const) {
    assert.match(result.reply, /^421 4\.4\.2 /, `${what} slowloris`);
    assert.ok(result.heldMs < 3 * COMMAND_TIMEOUT_MS, `${what} slowloris held its slot ${result.heldMs} ms`);
  }
  await until(() => overPerIp.every((c) => c.closed), "the refused connections to be closed", 10_000);

  // 4. The flood: 5,000 idle connections from 100 addresses (50 each, under the per-address
  // limit): the global limit admits what is free and refuses the rest with 421 4.3.2.
  const flood = await openHeld(port, loopbackAddresses(10, 100), FLOOD);
  held.push(...flood);
  await until(() => settled(flood), "every flood connection to be answered", 60_000);
  const admitted = flood.filter((c) => c.greeted);
  const refused = flood.filter((c) => !c.greeted);
  assert.ok(admitted.length + MAX_PER_IP <= MAX_CONNECTIONS, `${admitted.length} flood sessions admitted`);
  assert.ok(admitted.length >= MAX_CONNECTIONS - MAX_PER_IP - 5, "the flood filled the free slots");
  const wrong = refused.filter((c) => !c.firstLine?.startsWith("421 4.3.2 "));
  assert.deepEqual(
    wrong.map((c) => c.firstLine ?? "(closed without a reply)"),
    [],
    "over the limit: 421 4.3.2",
  );
  await until(() => refused.every((c) => c.closed), "the refused flood connections to be closed", 10_000);
  const slowestRefusal = Math.max(...refused.map((c) => c.closedAt! - c.opened));

  // 5. With every slot held, a new client is refused at once: 421, not a hang.
  const full = await sendTagged({ port, localAddress: "127.5.0.2", to, numbers: range(11, 15), ledger });
  assert.match(full.greeting, /^421 4\.3\.2 /);
  assert.ok(full.greetingMs < GREETING_BOUND_MS, `refusal took ${full.greetingMs} ms`);
  const heldPeak = memory.peak;

  // 6. The idle timeout ends the held sessions (421, closed); then the normal client is served again.
  const sessions = [...oneAddress.filter((c) => c.greeted), ...admitted];
  await until(() => sessions.every((c) => c.closed), "the idle sessions to be cut", IDLE_TIMEOUT_MS * 3);
  assert.ok(
    sessions.every((c) => c.lastReply === "421 4.4.2"),
    `idle cut: ${sessions.find((c) => c.lastReply !== "421 4.4.2")?.lines.join(" | ")}`,
  );
  const faultEnded = Math.max(...sessions.map((c) => c.closedAt!));
  let recoveredAt: number | undefined;
  const after = await sendTagged({
    port,
    localAddress: "127.5.0.3",
    to,
    numbers: range(16, 25),
    ledger,
    onAccepted: () => (recoveredAt ??= Date.now()),
  });
  // To the first 250 (a 250 from inbound means the message is in its mbox).
  const recoveryMs = recoveredAt === undefined ? null : recoveredAt - faultEnded;
  assert.match(after.greeting, /^220 /);
  assert.ok(after.greetingMs < GREETING_BOUND_MS, `greeting took ${after.greetingMs} ms`);

  const peak = await memory.stop();
  assert.ok(peak.rss < RSS_BOUND, `peak RSS ${mib(peak.rss)} MiB`);
  assert.ok(peak.uss < USS_BOUND, `peak USS ${mib(peak.uss)} MiB`);
  assert.equal(child.exitCode, null, `the daemon is still running: ${output().slice(-2000)}`);

  const inbox = await readMbox(path.join(mailRoot, "sow", "INBOX"));
  const tally = ledger.tally(countTags(inbox.map((m) => m.subject ?? undefined)));
  assert.equal(tally.accepted, 20);
  const figures = [
    `admitted ${admitted.length + MAX_PER_IP}/${MAX_CONNECTIONS} (refused: ${refused.length} 421 4.3.2, 10 421 4.7.0, slowest closed ${slowestRefusal} ms after connect)`,
    `slowloris cut after ${(line.heldMs / 1000).toFixed(1)} s (line) / ${(message.heldMs / 1000).toFixed(1)} s (DATA)`,
    `greeting ${during.greetingMs}/${after.greetingMs} ms`,
    `RSS idle ${mib(idle.rss)}, held ${mib(heldPeak.rss)}, peak ${mib(peak.rss)} MiB; USS idle ${mib(idle.uss)}, peak ${mib(peak.uss)} MiB`,
  ];
  t.diagnostic(figures.join("; "));
  await recordOutcome({
    fault: "5,000 idle connections + slowloris (inbound)",
    ...tally,
    recoveryMs,
    note: `${ledger.refusalSummary()}; ${figures.join("; ")}`,
  });
});
