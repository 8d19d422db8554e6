// Fault row: the whole stack in a 256 MiB memory cgroup (the design's VM) under the bench's
// load: 1,000 messages of 4 KiB, then 1,000 of 100 KiB, into ten mailboxes (40 sessions) and
// at the same time submitted for relay to a loopback MX (10 sessions). The daemons run as
// the image runs them (the bundle, its node flags) and join the cgroup before they start, so
// all their memory is charged there; slapd, named, Dovecot and the webmail's PHP, started by
// the bench's stack, join once running (this kernel cannot move what they already hold).
// Claims: nothing in the cgroup is OOM-killed, every refusal is 4xx, and every 250 is
// delivered once (to its mailbox, or to the sink).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, open, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { parse, stringify } from "yaml";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { imageEnv } from "../../bench/lib/image-env.ts";
import { accepting, processTree } from "../../bench/lib/process.ts";
import { SINK_DOMAIN, startStack, type Stack } from "../../bench/memory/stack.ts";
import { needsRoot } from "../../testkit/needs-root.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { until } from "../../testkit/until.ts";
import { readMbox } from "../mailservers/inbound/fixture.ts";
import { countTags, Ledger } from "./ledger.ts";
import { MemoryCgroup, type CgroupMemory } from "./memory-cgroup.ts";
import { mib } from "./memory-peak.ts";
import { recordOutcome } from "./outcome.ts";
import { runTaggedLoad } from "./tagged-load.ts";
import { startTaggingSink } from "./tagging-sink.ts";

const LIMIT = 256 * 1024 ** 2;
const MAILBOXES = 10;
const SHAPES = [
  { size: 4 * 1024, messages: 1000 },
  { size: 100 * 1024, messages: 1000 },
] as const;
/** Each shape stops starting messages after this, sent or not: the row stays bounded. */
const SHAPE_LIMIT_MS = 40_000;

/** What the row stops at its end, last started first. */
type Stops = Array<() => Promise<unknown>>;

/** A daemon of the bundle started inside the cgroup, its output in `<dir>/<command>.log`. */
async function startDaemon(
  stops: Stops,
  cgroup: MemoryCgroup,
  launch: { entry: string; flags: readonly string[]; env: Record<string, string>; config: string; dir: string },
  command: "inbound" | "outbound",
  port: number,
): Promise<ChildProcess> {
  const log = await open(path.join(launch.dir, `${command}.log`), "a");
  const [file, args] = cgroup.command([
    process.execPath,
    ...launch.flags,
    launch.entry,
    command,
    "--config",
    launch.config,
  ]);
  const child = spawn(file, args, {
    stdio: ["ignore", log.fd, log.fd],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/root", ...launch.env },
  });
  await log.close();
  stops.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  });
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`semail ${command} exited (${child.exitCode}), see its log`);
      return accepting(port);
    },
    `semail ${command} to listen on ${port}`,
    30_000,
    50,
  );
  return child;
}

/** The stack's settings with the relay's MX port pointed at the tagging sink and the production per-address limit. */
async function rowSettings(stack: Stack, sinkPort: number): Promise<string> {
  const settings = parse(await readFile(stack.settingsFile, "utf8")) as {
    inbound: Record<string, unknown>;
    outbound: { delivery: Record<string, unknown> };
  };
  delete settings.inbound.maxConnectionsPerIp;
  settings.outbound.delivery.smtpPort = sinkPort;
  const file = path.join(stack.dir, "semail-fault.yaml");
  await writeFile(file, stringify(settings));
  return file;
}

test("the whole stack in a 256 MiB cgroup under the bench's load: nothing killed, refusals 4xx, every 250 delivered once", {
  skip: needsRoot,
}, async (t) => {
  const cgroup = await MemoryCgroup.create(`semail-faults-${process.pid}`, LIMIT);
  if (!cgroup) return t.skip("no writable cgroup v1 memory controller at /sys/fs/cgroup/memory");
  // t.after hooks run in the order they were added; these run last first, so the cgroup is
  // removed once every process in it has stopped (and before the temp dir goes).
  const stops: Stops = [];
  t.after(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  stops.push(() => cgroup.remove());
  const dir = await tempDir(t, "semail-fault-cgroup-");
  await chmod(dir, 0o755); // Dovecot and PHP drop root
  const stack = await startStack(dir, MAILBOXES);
  stops.push(() => stack.stop());
  const sink = await startTaggingSink();
  stops.push(() => sink.stop());

  const config = await rowSettings(stack, sink.port);
  const launch = {
    entry: await bundle(path.join(dir, "dist")),
    flags: await imageNodeFlags(),
    env: await imageEnv(),
    config,
    dir,
  };
  const inbound = await startDaemon(stops, cgroup, launch, "inbound", stack.settings.inbound.listen[0]!.port);
  const outbound = await startDaemon(stops, cgroup, launch, "outbound", stack.settings.outbound.listen[0]!.port);
  // Each service's main process must live through the row; its workers may come and go (Dovecot's do).
  const roots = new Map<string, number>([
    ["inbound", inbound.pid!],
    ["outbound", outbound.pid!],
  ]);
  for (const service of stack.services) {
    roots.set(service.name, await service.pid());
    for (const pid of await processTree(await service.pid())) await cgroup.join(pid);
  }
  const atStart = await cgroup.memory();

  // The processes' own memory (anon) is the figure that matters: page cache fills the rest up to the limit.
  let peakAnon = atStart.anon;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakAnon = Math.max(peakAnon, (await cgroup.memory()).anon);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  stops.push(async () => {
    sampling = false;
    await sampler;
  });

  const ledger = new Ledger();
  const counter = { next: 1 };
  const sender = stack.users[0]!;
  const started = Date.now();
  for (const shape of SHAPES) {
    const limit = Date.now() + SHAPE_LIMIT_MS;
    await Promise.all([
      runTaggedLoad({
        port: stack.settings.inbound.listen[0]!.port,
        sessions: 40,
        size: shape.size,
        messages: shape.messages,
        until: limit,
        from: "load@example.org",
        to: (n) => stack.users[n % MAILBOXES]!.address,
        counter,
        ledger,
      }),
      runTaggedLoad({
        port: stack.settings.outbound.listen[0]!.port,
        sessions: 10,
        size: shape.size,
        messages: shape.messages,
        until: limit,
        from: sender.address,
        to: () => `sink@${SINK_DOMAIN}`,
        auth: { user: sender.owner, password: sender.password },
        counter,
        ledger,
      }),
    ]);
  }
  const loadMs = Date.now() - started;

  // A 250 from inbound means the message is in its mbox; the relay delivers after its 250,
  // so wait (bounded) until nothing 250'd is missing from the mailboxes and the sink together.
  const inMailboxes: (string | undefined)[] = [];
  for (const user of stack.users)
    for (const m of await readMbox(path.join(stack.mailRoot, user.owner, "INBOX")))
      inMailboxes.push(m.subject ?? undefined);
  const arrivals = () => countTags([...inMailboxes, ...sink.subjects]);
  await until(
    () => ledger.tally(arrivals()).lost === 0,
    "every 250'd message to reach its mailbox or the sink",
    60_000,
    250,
  );
  sampling = false;
  await sampler;

  const end: CgroupMemory = await cgroup.memory();
  const alive = await cgroup.pids();
  assert.equal(end.oomKills, 0, "the OOM killer killed a process in the cgroup");
  assert.equal(end.underOom, false);
  assert.deepEqual(
    [...roots].filter(([, pid]) => !alive.includes(pid)).map(([name]) => name),
    [],
    "every service's main process is still running in the cgroup",
  );
  const not4xx = [...ledger.refusals.values()].filter((reply) => !/^4\d\d /.test(reply));
  assert.deepEqual(not4xx, [], "every refusal is 4xx");

  const tally = ledger.tally(arrivals());
  const figures = [
    `${tally.sent} sent, ${tally.accepted} 250'd in ${(loadMs / 1000).toFixed(1)} s`,
    `cgroup anon at start ${mib(atStart.anon)} MiB, peak ${mib(peakAnon)} MiB; usage with page cache at start ${mib(atStart.usage)} MiB, max_usage_in_bytes ${end.maxUsage} (${mib(end.maxUsage)} MiB); failcnt ${end.failcnt}, oom_kill ${end.oomKills}`,
  ];
  t.diagnostic(figures.join("; "));
  await recordOutcome({
    fault: "whole stack in a 256 MiB cgroup under load",
    ...tally,
    recoveryMs: null,
    note: `${ledger.refusalSummary() || "no refusals"}; ${figures.join("; ")}`,
  });
});
