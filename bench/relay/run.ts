// bench/relay: the same load relayed to Postfix's smtp-sink on loopback, through
// `semail outbound` and through its peers, in one run: a private Postfix (relayhost = the
// sink), Exim 4 (bench/lib/exim.ts: a manualroute smarthost) and OpenSMTPD
// (bench/lib/opensmtpd.ts: `relay host`). Per shape (message size x destination domains) it
// prints msg/s end to end for each side, SEMail's ratio to the fastest peer (target: >= 2.0
// at every shape against Postfix), the CPU time each side spent per message, and each side's
// peak memory (a peer's: summed over its processes). semail runs as the Docker image runs it:
// the bundle, with the ENTRYPOINT's node flags (--from-source runs the TypeScript instead).
//
//   npm run bench -- relay [--shapes 4k-1,4k-100,100k-1,100k-100] [--messages 2000] [--rounds 3]
//                          [--sessions 10] [--concurrency 20] [--per-connection N] [--quick]
//                          [--peers postfix,exim,opensmtpd] [--from-source] [--cpu-prof DIR]
//
// A shape "SIZEk-DOMAINS" sends SIZE KiB messages, one recipient each, to DOMAINS domains in
// turn. --quick is --messages 300 --rounds 1. --per-connection N makes each client send N
// messages per connection (AUTH each time) instead of keeping its connection. --cpu-prof
// DIR writes a V8 CPU profile of the semail daemon into DIR when it stops.
// Run as root (Postfix and smtp-sink drop privileges).
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path, { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { Spool } from "../../mailservers/outbound/relay/index.ts";
import { startSlapd } from "../../deploy/local/slapd.ts";
import { diskCeiling } from "../lib/disk-ceiling.ts";
import { startExim } from "../lib/exim.ts";
import { median } from "../lib/median.ts";
import { startOpenSmtpd } from "../lib/opensmtpd.ts";
import { comparisonTable, type ComparisonRow } from "../lib/peer-table.ts";
import { postfixDir, removeDir, startPostfix } from "../lib/postfix.ts";
import { accepting, freePort, sampleTree } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";
import { treeCpuSeconds } from "./cpu.ts";
import { sendLoad, type LoadOptions } from "./load.ts";
import { startSink, type Sink } from "./sink.ts";

const LIMIT_MS = 600_000;
const PEERS = ["postfix", "exim", "opensmtpd"] as const;
type Side = "semail" | (typeof PEERS)[number];

export interface Shape {
  /** Message size in bytes. */
  readonly size: number;
  readonly domains: number;
}

interface Round {
  readonly side: Side;
  /** Messages per second until the client had its last reply. */
  readonly submitRate: number;
  /** Messages per second until the sink had every message. */
  readonly relayRate: number;
  /** CPU time the side's processes spent per message, ms. */
  readonly cpuMs: number;
}

interface ShapeResult {
  readonly shape: Shape;
  readonly rounds: readonly Round[];
  readonly median: Readonly<Partial<Record<Side, number>>>;
  readonly cpuMs: Readonly<Partial<Record<Side, number>>>;
  readonly peak: Readonly<Partial<Record<Side, { rss: number; pss: number }>>>;
}

export function parseShape(text: string): Shape {
  const match = /^(\d+)k-(\d+)$/.exec(text);
  if (!match || Number(match[1]) === 0 || Number(match[2]) === 0)
    throw new Error(`shape ${JSON.stringify(text)} must be SIZEk-DOMAINS, e.g. 4k-100`);
  return { size: Number(match[1]) * 1024, domains: Number(match[2]) };
}

const label = (s: Shape) => `${s.size / 1024} KiB, ${s.domains} domain${s.domains > 1 ? "s" : ""}`;
const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
const recipients = (s: Shape) => Array.from({ length: s.domains }, (_, i) => `sink@d${i}.relay-bench.test`);

/** Sends `messages` and waits until the sink has them all. */
async function measure(side: Side, pid: number, sink: Sink, load: LoadOptions): Promise<Round> {
  const base = sink.count();
  const cpu = await treeCpuSeconds(pid);
  const started = performance.now();
  const submitMs = await sendLoad(load);
  await until(
    () => sink.count() >= base + load.messages,
    `${side}: ${load.messages} messages at the sink`,
    LIMIT_MS,
    5,
  );
  const relayMs = performance.now() - started;
  const cpuMs = (((await treeCpuSeconds(pid)) - cpu) * 1000) / load.messages;
  return { side, submitRate: (load.messages * 1000) / submitMs, relayRate: (load.messages * 1000) / relayMs, cpuMs };
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      shapes: { type: "string", default: "4k-1,4k-100,100k-1,100k-100" },
      messages: { type: "string" },
      rounds: { type: "string" },
      sessions: { type: "string", default: "10" },
      concurrency: { type: "string", default: "20" },
      "per-connection": { type: "string" },
      quick: { type: "boolean", default: false },
      "from-source": { type: "boolean", default: false },
      "cpu-prof": { type: "string" },
      peers: { type: "string", default: PEERS.join(",") },
    },
  });
  const wanted = values.peers.split(",").filter((p) => p !== "");
  for (const p of wanted)
    if (!(PEERS as readonly string[]).includes(p)) throw new Error(`--peers: ${p} is not one of ${PEERS.join(", ")}`);
  const shapes = values.shapes.split(",").map(parseShape);
  const N = Number(values.messages ?? (values.quick ? 300 : 2000));
  const ROUNDS = Number(values.rounds ?? (values.quick ? 1 : 3));
  const SESSIONS = Number(values.sessions);
  const CONCURRENCY = Number(values.concurrency);
  const perConnection = values["per-connection"] === undefined ? undefined : Number(values["per-connection"]);
  for (const [name, value] of Object.entries({
    messages: N,
    rounds: ROUNDS,
    sessions: SESSIONS,
    concurrency: CONCURRENCY,
    "per-connection": perConnection ?? 1,
  })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number of at least 1`);
  }

  const dir = await postfixDir("semail-bench-relay-");
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const [sinkPort, outboundPort] = [await freePort(), await freePort()];
    const sink = await startSink(sinkPort);
    stops.push(() => sink.stop());

    const slapd = await startSlapd({
      dataDir: join(dir, "slapd"),
      users: [{ uid: "bench", password: "bench-Secret1" }],
      admins: [],
      adminPassword: "bench-Admin1",
    });
    stops.push(() => slapd.stop());
    await writeFile(join(dir, "users.yaml"), "mailboxes:\n  - {owner: bench, address: bench@bench.test}\n");
    const spool = join(dir, "spool");
    await writeFile(
      join(dir, "semail.yaml"),
      stringify({
        hostname: "outbound.bench.test",
        users: join(dir, "users.yaml"),
        log: { level: "warn" },
        ldap: {
          url: slapd.url,
          baseDn: slapd.baseDn,
          userDnTemplate: slapd.userDnTemplate,
          adminGroupDn: slapd.adminGroupDn,
        },
        outbound: {
          listen: [`127.0.0.1:${outboundPort}`],
          spool,
          concurrency: CONCURRENCY,
          perDomainConcurrency: CONCURRENCY,
          delivery: { relayHost: { host: "127.0.0.1", port: sinkPort }, localAddresses: ["192.0.2.1"] },
        },
      }),
    );
    const node = join(process.cwd(), "node_modules/.bin/node");
    const profile = values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(values["cpu-prof"])}`] : [];
    const command = values["from-source"]
      ? [...profile, "bin/semail.mjs"]
      : [...(await imageNodeFlags()), ...profile, await bundle()];
    const daemon = spawn(node, [...command, "outbound", "--config", join(dir, "semail.yaml")], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const daemonExited = new Promise((r) => daemon.once("exit", r));
    stops.push(async () => {
      daemon.kill("SIGTERM");
      await daemonExited;
    });
    await until(() => accepting(outboundPort), "semail outbound to listen", 15_000);

    const port: Partial<Record<Side, number>> = { semail: outboundPort };
    const pid: Partial<Record<Side, () => Promise<number>>> = { semail: async () => daemon.pid ?? 0 };
    if (wanted.includes("postfix")) {
      const postfix = await startPostfix(join(dir, "postfix"), {
        mainCf: [
          "mydomain = bench.test",
          "myorigin = bench.test",
          `relayhost = [127.0.0.1]:${sinkPort}`,
          "smtp_tls_security_level = none",
          "smtpd_tls_security_level = none",
          `default_destination_concurrency_limit = ${CONCURRENCY}`,
        ],
        processLimit: Math.max(100, CONCURRENCY * 2),
      });
      stops.push(() => postfix.stop());
      await until(() => accepting(postfix.port), "postfix to listen", 15_000);
      port.postfix = postfix.port;
      pid.postfix = () => postfix.masterPid();
    }
    for (const [name, start] of [
      ["exim", startExim],
      ["opensmtpd", startOpenSmtpd],
    ] as const) {
      if (!wanted.includes(name)) continue;
      const peerDir = join(dir, name);
      await mkdir(peerDir, { mode: 0o755 });
      try {
        const peer = await start(peerDir, { kind: "relay", sinkPort });
        stops.push(() => peer.stop());
        port[name] = peer.port;
        pid[name] = () => peer.pid();
      } catch (err) {
        console.log(`bench/relay: ${name} skipped: ${(err as Error).message}`);
      }
    }
    const sides = (["semail", ...PEERS] as const).filter((side) => port[side] !== undefined);
    const peers = sides.filter((side) => side !== "semail");
    const loadFor = (side: Side, shape: Shape, messages: number): LoadOptions => ({
      port: port[side]!,
      sessions: SESSIONS,
      messages,
      size: shape.size,
      from: "bench@bench.test",
      to: recipients(shape),
      ...(side === "semail" ? { auth: { user: "bench", password: "bench-Secret1" } } : {}),
      ...(perConnection !== undefined ? { perConnection } : {}),
    });

    console.log(
      `bench/relay: ${N} messages per shape and side, ${SESSIONS} client sessions${perConnection ? ` of ${perConnection} message(s) per connection` : " kept open"}, delivery concurrency ${CONCURRENCY} (semail, postfix), ${ROUNDS} alternating round(s), every side relays to smtp-sink on loopback; sides: ${sides.join(", ")}; semail: node ${command.map((c) => (c.startsWith("/") ? path.relative(process.cwd(), c) : c)).join(" ")}; ${new Date().toISOString()}`,
    );
    const results: ShapeResult[] = [];
    const rows: ComparisonRow[] = [];
    for (const shape of shapes) {
      // Warm-up (JIT, LDAP, the peers' processes, the sink), not counted.
      for (const side of sides) await measure(side, await pid[side]!(), sink, loadFor(side, shape, Math.min(100, N)));
      const rounds: Round[] = [];
      const samplers = new Map(sides.map((side) => [side, sampleTree(pid[side]!, 250)]));
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating rounds, and who goes first alternates too: a busy machine slows every side alike.
        for (const side of round % 2 === 0 ? sides : [...sides].reverse())
          rounds.push(await measure(side, await pid[side]!(), sink, loadFor(side, shape, N)));
      }
      const result: ShapeResult = { shape, rounds, peak: {}, median: {}, cpuMs: {} };
      for (const side of sides) {
        const own = rounds.filter((r) => r.side === side);
        Object.assign(result.peak, { [side]: await samplers.get(side)!.stop() });
        Object.assign(result.median, { [side]: median(own.map((r) => r.relayRate)) });
        Object.assign(result.cpuMs, { [side]: median(own.map((r) => r.cpuMs)) });
      }
      results.push(result);
      const ceiling = await diskCeiling({
        dir: join(dir, "ceiling"),
        mailboxes: 1,
        copies: 1,
        messages: N,
        bytes: shape.size,
        concurrency: SESSIONS,
      });
      rows.push({
        shape: label(shape),
        semail: result.median.semail!,
        peers: Object.fromEntries(peers.map((side) => [side, result.median[side]!])),
        ceiling: { semail: ceiling },
      });
      console.log(
        `  ${label(shape).padEnd(20)} rounds (msg/s relayed, submitted; CPU ms/msg): ${rounds.map((r) => `${r.side} ${r.relayRate.toFixed(0)}, ${r.submitRate.toFixed(0)}; ${r.cpuMs.toFixed(2)}`).join(" | ")}; disk ceiling ${ceiling.toFixed(0)} msg/s`,
      );
    }
    await until(async () => (await new Spool(spool).ids()).length === 0, "semail's spool to empty", 30_000);

    console.log("");
    for (const line of comparisonTable(rows, peers, { semail: "disk ceiling" })) console.log(`  ${line}`);
    console.log(
      `  (median of the rounds, msg/s end to end: from the first connection until the sink has every message. Disk ceiling: a plain loop appending the same bytes to one file with a sync per message, ${SESSIONS} at once (SEMail's spool is one such file; a peer writes a queue file per message). Target: SEMail >= 2.0x Postfix at every shape.)`,
    );
    console.log("");
    console.log(`  ${"shape".padEnd(20)}   CPU ms/msg, peak RSS / PSS: ${sides.join(", ")}`);
    for (const r of results)
      console.log(
        `  ${label(r.shape).padEnd(20)}   ${sides.map((side) => `${r.cpuMs[side]!.toFixed(2)} ms, ${mb(r.peak[side]!.rss)} / ${mb(r.peak[side]!.pss)}`).join("; ")}`,
      );
    console.log(
      JSON.stringify({
        bench: "relay",
        messages: N,
        rounds: ROUNDS,
        sessions: SESSIONS,
        concurrency: CONCURRENCY,
        ...(perConnection ? { perConnection } : {}),
        shapes: results.map((r, i) => ({
          size: r.shape.size,
          domains: r.shape.domains,
          relayed: Object.fromEntries(sides.map((side) => [side, Math.round(r.median[side]!)])),
          diskCeiling: Math.round(rows[i]!.ceiling!.semail),
          cpuMsPerMessage: Object.fromEntries(sides.map((side) => [side, Number(r.cpuMs[side]!.toFixed(3))])),
          peakRss: Object.fromEntries(sides.map((side) => [side, r.peak[side]!.rss])),
          peakPss: Object.fromEntries(sides.map((side) => [side, r.peak[side]!.pss])),
          rounds: r.rounds.map((x) => ({
            side: x.side,
            relayed: Math.round(x.relayRate),
            submitted: Math.round(x.submitRate),
            cpuMs: Number(x.cpuMs.toFixed(3)),
          })),
        })),
      }),
    );
  } finally {
    for (const stop of stops.reverse())
      await stop().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
    await removeDir(dir);
  }
}

if (import.meta.main) await main(process.argv.slice(2));
