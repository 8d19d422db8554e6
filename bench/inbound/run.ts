// bench/inbound: `semail inbound` against Postfix (smtpd + virtual(8) into mbox files),
// same load from smtp-source, same run. For each shape and side: msg/s until every message
// is in the mbox files, the ratio, and peak RSS (Postfix: summed over its processes); for
// semail also its RSS idle after start and once the load is over (settledRss).
//
//   npm run bench -- inbound [--messages 2000] [--shapes 20x4k-1,100x100k-100] [--one-per-connection] [--greet-delay 100ms] [--from-source]
//
// semail runs as the Docker image runs it: the bundle (`npm run build`, made afresh here)
// with the node flags of the image's ENTRYPOINT; --from-source runs the TypeScript instead.
//
// smtp-source runs with -d (several messages per session), as a busy MTA's connection
// cache does; --one-per-connection opens a connection per message (smtp-source's own
// default). There the pause before the greeting (inbound.greetDelay, the early-talker
// check) is paid by the first connection from 127.0.0.1 only (inbound.greetPassTtl).
import { spawn, type ChildProcess } from "node:child_process";
import { open, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { provisionPlainRoot } from "../../config/mailbox-layout.ts";
import { MboxCounter } from "../lib/mbox-count.ts";
import { postfixDir, removeDir, startPostfix, type PostfixInstance } from "../lib/postfix.ts";
import { peakRss, rss, sampleTree, settledRss, uss } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";
import { SMTP_SOURCE, smtpSource } from "../lib/smtp-source.ts";

const SOURCE_BIN = fileURLToPath(new URL("../../bin/semail.mjs", import.meta.url));
const DOMAIN = "bench.test";
const VMAIL_UID = 65534; // nobody: virtual(8) refuses to deliver as root

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
  await until(
    async () => {
      if (failed) throw failed;
      return (await counter.count(await running.files())) >= messages;
    },
    `${messages} messages on disk (${side})`,
    30 * 60_000,
    50,
  );
  const onDisk = performance.now();
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
    ...(running.idle ? { idle: running.idle } : {}),
    ...(afterLoadRss ? { afterLoadRss } : {}),
  };
}

async function runSide(
  side: "semail" | "postfix",
  shape: Shape,
  messages: number,
  reuseConnections: boolean,
  greetDelay: string,
  launch: Launch,
): Promise<SideResult> {
  const dir = await postfixDir();
  let running: Running | undefined;
  try {
    running =
      side === "semail"
        ? await startSemail(dir, shape.mailboxes, greetDelay, launch)
        : await startReference(dir, shape.mailboxes);
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
  let withPostfix = !values["no-postfix"];
  if (withPostfix && process.getuid?.() !== 0) {
    console.log("bench/inbound: Postfix reference skipped: it needs root to start");
    withPostfix = false;
  }
  const launch: Launch = values["from-source"]
    ? { nodeFlags: [], entry: SOURCE_BIN }
    : { nodeFlags: await imageNodeFlags(), entry: await bundle() };
  console.log(
    `bench/inbound: ${messages} messages per shape, smtp-source ${reuse ? "-d (sessions reused)" : "(one connection per message)"}, semail greetDelay ${greetDelay}, semail: node ${[...launch.nodeFlags, path.relative(process.cwd(), launch.entry)].join(" ")}, ${new Date().toISOString()}`,
  );
  for (const shape of shapes) {
    const ours = await runSide("semail", shape, messages, reuse, greetDelay, launch);
    let reference: SideResult | undefined;
    if (withPostfix) {
      try {
        reference = await runSide("postfix", shape, messages, reuse, greetDelay, launch);
      } catch (err) {
        console.log(`bench/inbound: Postfix reference skipped: ${(err as Error).message}`);
        withPostfix = false;
      }
    }
    const ratio = reference ? (ours.onDiskRate / reference.onDiskRate).toFixed(2) : "-";
    const row =
      `${label(shape).padEnd(36)} semail ${ours.onDiskRate.toFixed(0).padStart(5)} msg/s on disk (accepted ${ours.acceptRate.toFixed(0)}/s), peak RSS ${mb(ours.peakRssBytes)} PSS ${mb(ours.peakPssBytes)}, idle RSS ${mb(ours.idle?.rss ?? 0)} USS ${mb(ours.idle?.uss ?? 0)}, after the load ${mb(ours.afterLoadRss ?? 0)}` +
      (reference
        ? ` | postfix ${reference.onDiskRate.toFixed(0).padStart(5)} msg/s on disk (accepted ${reference.acceptRate.toFixed(0)}/s), peak RSS ${mb(reference.peakRssBytes)} PSS ${mb(reference.peakPssBytes)} | ratio ${ratio}`
        : "");
    console.log(row);
  }
}
