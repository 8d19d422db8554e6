// bench/relay: the same load relayed to Postfix's smtp-sink on loopback, once through
// `semail outbound` and once through a private Postfix, in one run; prints msg/s for
// each and the ratio. Run as root (Postfix and smtp-sink drop privileges):
//   node bench/relay/run.ts [--messages 2000] [--sessions 10] [--size 2048] [--concurrency 20]
import { execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { stringify } from "yaml";
import { freeLoopbackPort, startSlapd } from "../../provisioning/local/slapd.ts";
import { sendLoad } from "./load.ts";
import { startPostfix } from "./postfix.ts";
import { startSink, type Sink } from "./sink.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "2000" },
    sessions: { type: "string", default: "10" },
    size: { type: "string", default: "2048" },
    concurrency: { type: "string", default: "20" },
    rounds: { type: "string", default: "3" },
  },
});
const N = Number(values.messages);
const SESSIONS = Number(values.sessions);
const SIZE = Number(values.size);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const LIMIT_MS = 300_000;

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1" }, () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Result {
  name: string;
  submitMs: number;
  relayMs: number;
}

/** Sends the load and waits until the sink has every message. */
async function measure(name: string, sink: Sink, load: () => Promise<unknown>): Promise<Result> {
  const base = sink.count();
  const started = Date.now();
  await load();
  const submitMs = Date.now() - started;
  await waitFor(`${name}: ${N} messages at the sink`, () => sink.count() >= base + N, LIMIT_MS);
  return { name, submitMs, relayMs: Date.now() - started };
}

const dir = await mkdtemp(join(tmpdir(), "semail-bench-relay-"));
// Postfix's daemons run as the postfix user and must reach their queue below it.
await chmod(dir, 0o755);
const stops: Array<() => Promise<unknown>> = [];
try {
  const [sinkPort, outboundPort, postfixPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
  const sink = await startSink(sinkPort!);
  stops.push(() => sink.stop());

  const slapd = await startSlapd({ dataDir: join(dir, "slapd"), users: [{ uid: "bench", password: "bench-Secret1" }], admins: [], adminPassword: "bench-Admin1" });
  stops.push(() => slapd.stop());
  await writeFile(join(dir, "users.yaml"), "mailboxes:\n  - {owner: bench, address: bench@bench.test}\n");
  const spool = join(dir, "spool");
  await writeFile(join(dir, "semail.yaml"), stringify({
    hostname: "outbound.bench.test",
    users: join(dir, "users.yaml"),
    log: { level: "warn" },
    ldap: { url: slapd.url, baseDn: slapd.baseDn, userDnTemplate: slapd.userDnTemplate, adminGroupDn: slapd.adminGroupDn },
    outbound: {
      listen: [`127.0.0.1:${outboundPort}`],
      spool,
      concurrency: CONCURRENCY,
      perDomainConcurrency: CONCURRENCY,
      delivery: { relayHost: { host: "127.0.0.1", port: sinkPort }, localAddresses: ["192.0.2.1"] },
    },
  }));
  const node = join(process.cwd(), "node_modules/.bin/node");
  const daemon = spawn(node, ["bin/semail.mjs", "outbound", "--config", join(dir, "semail.yaml")], { stdio: ["ignore", "ignore", "inherit"] });
  stops.push(async () => {
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));
  });
  await waitFor("semail outbound to listen", () => accepting(outboundPort!), 15_000);

  const postfix = await startPostfix(join(dir, "postfix"), postfixPort!, sinkPort!, CONCURRENCY);
  stops.push(() => postfix.stop());
  await waitFor("postfix to listen", () => accepting(postfixPort!), 15_000);

  const load = { sessions: SESSIONS, messages: N, size: SIZE, from: "bench@bench.test", to: "sink@example.test" };
  const results: Result[] = [];
  // Warm-up (JIT, LDAP connection, Postfix processes), not counted.
  await sendLoad({ ...load, messages: 50, port: outboundPort!, auth: { user: "bench", password: "bench-Secret1" } });
  await sendLoad({ ...load, messages: 50, port: postfixPort! });
  await waitFor("the warm-up at the sink", () => sink.count() >= 100, LIMIT_MS);

  // Alternating rounds, so a busy machine slows both alike; the median round is reported.
  const outboundAuth = { user: "bench", password: "bench-Secret1" };
  const ours = () => measure("semail outbound", sink, () => sendLoad({ ...load, port: outboundPort!, auth: outboundAuth }));
  const theirs = () => measure("postfix", sink, () => sendLoad({ ...load, port: postfixPort! }));
  for (let round = 0; round < ROUNDS; round++) {
    // Who goes first alternates too.
    for (const run of round % 2 === 0 ? [ours, theirs] : [theirs, ours]) results.push(await run());
  }
  results.push(await measure("postfix (smtp-source)", sink, () =>
    promisify(execFile)("/usr/sbin/smtp-source", ["-s", String(SESSIONS), "-m", String(N), "-l", String(SIZE), "-f", load.from, "-t", load.to, `127.0.0.1:${postfixPort}`])));
  await waitFor("semail's spool to empty", async () => (await readdir(join(spool, "queue"))).length === 0, 30_000);

  const rate = (r: Result) => (N * 1000) / r.relayMs;
  const median = (name: string) => {
    const rates = results.filter((r) => r.name === name).map(rate).sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)]!;
  };
  console.log(`bench/relay: ${N} messages of ${SIZE} bytes, ${SESSIONS} client sessions, delivery concurrency ${CONCURRENCY}, ${ROUNDS} alternating rounds, sink = smtp-sink on loopback`);
  for (const r of results) {
    console.log(`  ${r.name.padEnd(24)} submit ${((N * 1000) / r.submitMs).toFixed(0).padStart(6)} msg/s   relayed end to end ${rate(r).toFixed(0).padStart(6)} msg/s`);
  }
  const semail = median("semail outbound");
  const reference = median("postfix");
  console.log(`  median end to end: semail outbound ${semail.toFixed(0)} msg/s, postfix ${reference.toFixed(0)} msg/s, ratio ${(semail / reference).toFixed(2)}`);
  console.log(JSON.stringify({ bench: "relay", messages: N, size: SIZE, sessions: SESSIONS, concurrency: CONCURRENCY, semail: Math.round(semail), postfix: Math.round(reference), ratio: Number((semail / reference).toFixed(2)), results: results.map((r) => ({ ...r, msgPerSec: Math.round(rate(r)) })) }));
} finally {
  for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
  await rm(dir, { recursive: true, force: true });
}
