// bench/inbound: `semail inbound` against its peers, each delivering into mbox files: Postfix
// (smtpd + virtual(8)), Exim 4 (bench/lib/exim.ts) and OpenSMTPD (bench/lib/opensmtpd.ts),
// same load from smtp-source, same run. For each shape and side: msg/s until every message
// is in the mbox files and peak RSS (a peer's: summed over its processes); for semail also its
// RSS idle after start and once the load is over (settledRss). Then the disk's ceiling
// (bench/lib/disk-ceiling.ts) for SEMail's two appends per message and for the peers' one,
// and one table: each rate, SEMail's ratio to the fastest peer, SEMail's share of its ceiling.
//
//   npm run bench -- inbound [--messages 2000] [--shapes 20x4k-1,100x100k-100] [--peers postfix,exim,opensmtpd]
//                            [--one-per-connection] [--greet-delay 100ms] [--from-source]
//
// semail runs as the Docker image runs it: the bundle (`npm run build`, made afresh here)
// with the node flags of the image's ENTRYPOINT; --from-source runs the TypeScript instead.
//
// smtp-source runs with -d (several messages per session), as a busy MTA's connection
// cache does; --one-per-connection opens a connection per message (smtp-source's own
// default). There the pause before the greeting (inbound.greetDelay, the early-talker
// check) is paid by the first connection from 127.0.0.1 only (inbound.greetPassTtl).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, open, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { provisionPlainRoot } from "../../config/mailbox-layout.ts";
import { MboxCounter } from "../lib/mbox-count.ts";
import { diskCeiling } from "../lib/disk-ceiling.ts";
import { startExim } from "../lib/exim.ts";
import { startOpenSmtpd } from "../lib/opensmtpd.ts";
import { PeerUnavailable } from "../lib/peer-debs.ts";
import type { PeerInstance, PeerJob } from "../lib/peer-job.ts";
import { comparisonTable, type ComparisonRow } from "../lib/peer-table.ts";
import { postfixDir, removeDir, startPostfix, type PostfixInstance } from "../lib/postfix.ts";
import { peakRss, rss, sampleTree, settledRss, uss } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";
import { SMTP_SOURCE, smtpSource } from "../lib/smtp-source.ts";

const SOURCE_BIN = fileURLToPath(new URL("../../bin/semail.mjs", import.meta.url));
const DOMAIN = "bench.test";
const VMAIL_UID = 65534; // nobody: virtual(8) refuses to deliver as root
const PEERS = ["postfix", "exim", "opensmtpd"] as const;
const STALL_MS = 120_000;
type Peer = (typeof PEERS)[number];
type Side = "semail" | Peer;

export interface Shape {
  readonly sessions: number;
  readonly size: number;
  readonly mailboxes: number;
}

export interface SideResult {
  readonly side: string;
  /** Messages per second from the first connection until every message was in the mbox files. */
  readonly onDiskRate: number;
  /** Messages per second until smtp-source had its last reply. */
  readonly acceptRate: number;
  /** Peak RSS (Postfix: summed over its processes, so shared pages count once per process). */
  readonly peakRssBytes: number;
  /** Peak PSS summed over the processes: shared pages divided among them. */
  readonly peakPssBytes: number;
  /** Bytes one copy of a message takes in an mbox file (the mbox files' size / messages). */
  readonly bytesPerCopy: number;
  readonly idle?: { readonly rss: number; readonly uss: number };
  /** RSS once the load is over and V8 has shrunk its heap (semail only). */
  readonly afterLoadRss?: number;
}

interface Running {
  readonly port: number;
  /** mbox files that hold one copy of each message. */
  files(): Promise<string[]>;
  pid(): Promise<number>;
  peak(): Promise<number>;
  /** The side's log, where the bench keeps it (said when a message goes missing). */
  output?(): Promise<string>;
  idle?: { rss: number; uss: number };
  stop(): Promise<void>;
}

const boxes = (n: number) => Array.from({ length: n }, (_, i) => `box${String(i).padStart(2, "0")}`);

/** How semail is started: node's flags and the entry file. */
interface Launch {
  readonly nodeFlags: readonly string[];
  readonly entry: string;
}

async function startSemail(dir: string, mailboxes: number, greetDelay: string, launch: Launch): Promise<Running> {
  const usersFile = path.join(dir, "users.yaml");
  const mailRoot = path.join(dir, "mail");
  await writeFile(
    usersFile,
    stringify({
      mailboxes: boxes(mailboxes).map((owner) => ({ owner, address: `${owner}@${DOMAIN}`, size: "20GiB" })),
    }),
  );
  // Provisioning makes each owner's root (on the VM, their own filesystem); the daemon never does.
  for (const owner of boxes(mailboxes)) await provisionPlainRoot(mailRoot, owner);
  const config = path.join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      hostname: "semail.bench.test",
      managedDomain: DOMAIN,
      users: usersFile,
      log: { level: "info" },
      inbound: { listen: ["127.0.0.1:0"], mailRoot, maxConnectionsPerIp: 1000, minFreeSpace: "1GiB", greetDelay },
    }),
  );
  const logFile = path.join(dir, "semail.log");
  const log = await open(logFile, "w");
  const child: ChildProcess = spawn(
    process.execPath,
    [...launch.nodeFlags, launch.entry, "inbound", "--config", config],
    { stdio: ["ignore", log.fd, log.fd] },
  );
  await log.close();
  let port = 0;
  await until(
    async () => {
      const text = await readFile(logFile, "utf8");
      const match = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(text);
      if (child.exitCode !== null) throw new Error(`semail inbound exited: ${text}`);
      if (match) port = Number(match[1]);
      return port > 0;
    },
    "semail inbound to listen",
    20_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const idle = { rss: await rss(child.pid!), uss: await uss(child.pid!) };
  return {
    port,
    idle,
    files: async () => boxes(mailboxes).map((b) => path.join(mailRoot, b, "INBOX")),
    pid: async () => child.pid!,
    peak: () => peakRss(child.pid!),
    async stop() {
      child.kill("SIGTERM");
      await until(() => child.exitCode !== null || child.signalCode !== null, "semail to stop", 60_000).catch(() =>
        child.kill("SIGKILL"),
      );
    },
  };
}

async function startReference(dir: string, mailboxes: number): Promise<Running> {
  const vmail = path.join(dir, "vmail");
  const postfix: PostfixInstance = await startPostfix(dir, {
    mainCf: [
      `virtual_mailbox_domains = ${DOMAIN}`,
      `virtual_mailbox_base = ${vmail}`,
      `virtual_mailbox_maps = texthash:${path.join(dir, "etc", "vmailbox")}`,
      `virtual_uid_maps = static:${VMAIL_UID}`,
      `virtual_gid_maps = static:${VMAIL_UID}`,
      "virtual_mailbox_limit = 0",
      "message_size_limit = 0",
    ],
    tables: {
      vmailbox: boxes(mailboxes)
        .map((b) => `${b}@${DOMAIN} ${b}\n`)
        .join(""),
    },
    ownedDirs: [{ path: vmail, uid: VMAIL_UID, gid: VMAIL_UID }],
  });
  return {
    port: postfix.port,
    files: async () => boxes(mailboxes).map((b) => path.join(vmail, b)),
    pid: () => postfix.masterPid(),
    peak: async () => 0,
    stop: () => postfix.stop(),
  };
}

/** The lines of a side's log that say why a message is not on disk yet. */
async function failures(running: Running): Promise<string> {
  const lines = ((await running.output?.()) ?? "")
    .split("\n")
    .filter((l) => /defer|tempfail|fail|error|frozen/i.test(l));
  return lines.length ? `; its log: ${lines.slice(-5).join(" | ")}` : "";
}

/** Exim or OpenSMTPD delivering into `${dir}/vmail/<mailbox>`. */
async function startPeer(
  dir: string,
  mailboxes: number,
  start: (dir: string, job: PeerJob) => Promise<PeerInstance>,
): Promise<Running> {
  const mailDir = path.join(dir, "vmail");
  const peer = await start(dir, { kind: "mbox", domain: DOMAIN, mailboxes: boxes(mailboxes), mailDir });
  return {
    port: peer.port,
    files: async () => boxes(mailboxes).map((b) => path.join(mailDir, b)),
    pid: () => peer.pid(),
    peak: async () => 0,
    output: () => peer.output(),
    stop: () => peer.stop(),
  };
}

const sizeOf = (file: string) =>
  stat(file).then(
    (s) => s.size,
    () => 0,
  );

async function measure(
  side: string,
  running: Running,
  shape: Shape,
  messages: number,
  reuseConnections: boolean,
): Promise<SideResult> {
  const counter = new MboxCounter();
  const sampler = sampleTree(() => running.pid());
  const started = performance.now();
  let acceptedAt = 0;
  const load = smtpSource({
    port: running.port,
    sessions: shape.sessions,
    messages,
    size: shape.size,
    recipients: boxes(shape.mailboxes).map((b) => `${b}@${DOMAIN}`),
    reuseConnections,
  }).then(() => {
    acceptedAt = performance.now();
  });
  let failed: unknown;
  load.catch((err: unknown) => (failed = err));
  // A side that lost a message would keep the wait going for its whole limit: once all are
  // accepted, two minutes without one more on disk ends it.
  let seen = { count: 0, at: performance.now() };
  await until(
    async () => {
      if (failed) throw failed;
      const count = await counter.count(await running.files());
      if (count !== seen.count) seen = { count, at: performance.now() };
      else if (acceptedAt > 0 && performance.now() - seen.at > STALL_MS)
        throw new Error(
          `${side}: ${count} of ${messages} messages on disk, none more for ${STALL_MS / 1000} s${await failures(running)}`,
        );
      return count >= messages;
    },
    `${messages} messages on disk (${side})`,
    30 * 60_000,
    50,
  );
  const onDisk = performance.now();
  let bytes = 0;
  for (const file of await running.files()) bytes += await sizeOf(file);
  await load;
  const treePeak = await sampler.stop();
  const processPeak = await running.peak();
  const afterLoadRss = running.idle ? await settledRss(await running.pid()) : undefined;
  return {
    side,
    onDiskRate: messages / ((onDisk - started) / 1000),
    acceptRate: messages / ((acceptedAt - started) / 1000),
    peakRssBytes: Math.max(treePeak.rss, processPeak),
    peakPssBytes: treePeak.pss,
    bytesPerCopy: bytes / messages,
    ...(running.idle ? { idle: running.idle } : {}),
    ...(afterLoadRss ? { afterLoadRss } : {}),
  };
}

async function runSide(
  side: Side,
  shape: Shape,
  messages: number,
  reuseConnections: boolean,
  greetDelay: string,
  launch: Launch,
): Promise<SideResult> {
  const dir = await postfixDir();
  let running: Running | undefined;
  try {
    if (side === "semail") running = await startSemail(dir, shape.mailboxes, greetDelay, launch);
    else if (side === "postfix") running = await startReference(dir, shape.mailboxes);
    else running = await startPeer(dir, shape.mailboxes, side === "exim" ? startExim : startOpenSmtpd);
    return await measure(side, running, shape, messages, reuseConnections);
  } finally {
    await running?.stop().catch(() => undefined);
    await removeDir(dir);
  }
}

function parseShape(text: string): Shape {
  const match = /^(\d+)x(\d+)k-(\d+)$/.exec(text);
  if (!match) throw new Error(`shape ${JSON.stringify(text)} must be SESSIONSxSIZEk-MAILBOXES, e.g. 20x4k-1`);
  return { sessions: Number(match[1]), size: Number(match[2]) * 1024, mailboxes: Number(match[3]) };
}

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const label = (s: Shape) =>
  `${s.sessions} sessions, ${s.size / 1024} KiB, ${s.mailboxes} mailbox${s.mailboxes > 1 ? "es" : ""}`;

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      messages: { type: "string" },
      shapes: { type: "string" },
      peers: { type: "string" },
      "no-postfix": { type: "boolean" },
      "one-per-connection": { type: "boolean" },
      "greet-delay": { type: "string" },
      "from-source": { type: "boolean" },
    },
  });
  const greetDelay = values["greet-delay"] ?? "100ms";
  const reuse = !values["one-per-connection"];
  const messages = Number(values.messages ?? 2000);
  const shapes = (
    values.shapes ?? "20x4k-1,100x4k-1,20x100k-1,100x100k-1,20x4k-100,100x4k-100,20x100k-100,100x100k-100"
  )
    .split(",")
    .map(parseShape);
  try {
    await readdir(path.dirname(SMTP_SOURCE));
    await open(SMTP_SOURCE, "r").then((f) => f.close());
  } catch {
    console.log(`bench/inbound: skipped: ${SMTP_SOURCE} not found (install the postfix package)`);
    return;
  }
  const wanted = (values.peers ?? PEERS.join(","))
    .split(",")
    .filter((p) => p !== "" && !(p === "postfix" && values["no-postfix"]));
  for (const p of wanted)
    if (!(PEERS as readonly string[]).includes(p)) throw new Error(`--peers: ${p} is not one of ${PEERS.join(", ")}`);
  let peers = wanted as Peer[];
  if (peers.length > 0 && process.getuid?.() !== 0) {
    console.log("bench/inbound: peers skipped: they need root to start");
    peers = [];
  }
  const launch: Launch = values["from-source"]
    ? { nodeFlags: [], entry: SOURCE_BIN }
    : { nodeFlags: await imageNodeFlags(), entry: await bundle() };
  console.log(
    `bench/inbound: ${messages} messages per shape, smtp-source ${reuse ? "-d (sessions reused)" : "(one connection per message)"}, semail greetDelay ${greetDelay}, semail: node ${[...launch.nodeFlags, path.relative(process.cwd(), launch.entry)].join(" ")}, ${new Date().toISOString()}`,
  );
  const rows: ComparisonRow[] = [];
  for (const shape of shapes) {
    const ours = await runSide("semail", shape, messages, reuse, greetDelay, launch);
    console.log(`${label(shape).padEnd(36)} ${describe("semail", ours)}`);
    const rates: Record<string, number> = {};
    for (const peer of [...peers]) {
      try {
        const result = await runSide(peer, shape, messages, reuse, greetDelay, launch);
        rates[peer] = result.onDiskRate;
        console.log(`${"".padEnd(36)} ${describe(peer, result)}`);
      } catch (err) {
        // A peer that cannot be had here is left out from now on; one that failed a shape, for that shape.
        const gone = err instanceof PeerUnavailable;
        console.log(
          `bench/inbound: ${peer} skipped${gone ? " from here on" : " at this shape"}: ${(err as Error).message}`,
        );
        if (gone) peers = peers.filter((p) => p !== peer);
      }
    }
    const ceiling = async (copies: number) =>
      diskCeiling({
        dir: await mkdtemp(path.join(tmpdir(), "semail-bench-ceiling-")),
        mailboxes: shape.mailboxes,
        copies,
        messages,
        bytes: Math.round(ours.bytesPerCopy),
        concurrency: shape.sessions,
      });
    const row = {
      shape: label(shape),
      semail: ours.onDiskRate,
      peers: rates,
      ceiling: { semail: await ceiling(2), peer: await ceiling(1) },
    };
    console.log(
      `${"".padEnd(36)} disk ceiling: ${row.ceiling.semail.toFixed(0)} msg/s with 2 appends per message, ${row.ceiling.peer.toFixed(0)} with 1 (${Math.round(ours.bytesPerCopy)} bytes each, synced)`,
    );
    rows.push(row);
  }
  console.log("");
  for (const line of comparisonTable(
    rows,
    PEERS.filter((p) => wanted.includes(p)),
    {
      semail: "ceiling, 2 appends",
      peer: "ceiling, 1 append",
    },
  ))
    console.log(`  ${line}`);
  console.log(
    "  (msg/s from the first connection until every message is in the mbox files. SEMail writes and syncs two copies of each message, INBOX and the pair folder; each peer one. The ceilings: a plain loop appending the same bytes to the same files with a sync per append, at the same concurrency: 2 appends per message for SEMail's writes, 1 for a peer's.)",
  );
  console.log(JSON.stringify({ bench: "inbound", messages, rows }));
}

/** One side's line: its rates and memory. */
function describe(side: Side, r: SideResult): string {
  const idle = r.idle
    ? `, idle RSS ${mb(r.idle.rss)} USS ${mb(r.idle.uss)}, after the load ${mb(r.afterLoadRss ?? 0)}`
    : "";
  return `${side.padEnd(9)} ${r.onDiskRate.toFixed(0).padStart(5)} msg/s on disk (accepted ${r.acceptRate.toFixed(0)}/s), peak RSS ${mb(r.peakRssBytes)} PSS ${mb(r.peakPssBytes)}${idle}`;
}
