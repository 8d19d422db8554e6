// bench/relay: the same load relayed to Postfix's smtp-sink on loopback, once through
// `semail outbound` and once through a private Postfix, in one run; prints msg/s for
// each, the ratio, and peak RSS of each side (Postfix: summed over its processes).
// semail runs as the Docker image runs it (the bundle, with the ENTRYPOINT's node flags).
// Run as root (Postfix and smtp-sink drop privileges):
//   npm run bench -- relay [--messages 2000] [--sessions 10] [--size 2048] [--concurrency 20] [--rounds 3] [--from-source]
import { spawn } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { bundle, imageNodeFlags } from "../../bin/bundle.ts";
import { startSlapd } from "../../provisioning/local/slapd.ts";
import { postfixDir, removeDir, startPostfix } from "../lib/postfix.ts";
import { accepting, freePort, peakRss, sampleTree, until } from "../lib/process.ts";
import { smtpSource } from "../lib/smtp-source.ts";
import { sendLoad } from "./load.ts";
import { startSink, type Sink } from "./sink.ts";

const LIMIT_MS = 300_000;

interface Result {
  name: string;
  submitMs: number;
  relayMs: number;
}

/** Sends the load and waits until the sink has every message. */
async function measure(name: string, sink: Sink, messages: number, load: () => Promise<unknown>): Promise<Result> {
  const base = sink.count();
  const started = Date.now();
  await load();
  const submitMs = Date.now() - started;
  await until(() => sink.count() >= base + messages, `${name}: ${messages} messages at the sink`, LIMIT_MS);
  return { name, submitMs, relayMs: Date.now() - started };
}

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      messages: { type: "string", default: "2000" },
      sessions: { type: "string", default: "10" },
      size: { type: "string", default: "2048" },
      concurrency: { type: "string", default: "20" },
      rounds: { type: "string", default: "3" },
      "from-source": { type: "boolean", default: false },
    },
  });
  const N = Number(values.messages);
  const SESSIONS = Number(values.sessions);
  const SIZE = Number(values.size);
  const CONCURRENCY = Number(values.concurrency);
  const ROUNDS = Number(values.rounds);

  const dir = await postfixDir("semail-bench-relay-");
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const [sinkPort, outboundPort] = [await freePort(), await freePort()];
    const sink = await startSink(sinkPort);
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
    const command = values["from-source"] ? ["bin/semail.mjs"] : [...(await imageNodeFlags()), await bundle()];
    const daemon = spawn(node, [...command, "outbound", "--config", join(dir, "semail.yaml")], { stdio: ["ignore", "ignore", "inherit"] });
    stops.push(async () => {
      daemon.kill("SIGTERM");
      await new Promise((r) => daemon.once("exit", r));
    });
    await until(() => accepting(outboundPort), "semail outbound to listen", 15_000);

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

    const load = { sessions: SESSIONS, messages: N, size: SIZE, from: "bench@bench.test", to: "sink@example.test" };
    const outboundAuth = { user: "bench", password: "bench-Secret1" };
    const results: Result[] = [];
    // Warm-up (JIT, LDAP connection, Postfix processes), not counted.
    await sendLoad({ ...load, messages: 50, port: outboundPort, auth: outboundAuth });
    await sendLoad({ ...load, messages: 50, port: postfix.port });
    await until(() => sink.count() >= 100, "the warm-up at the sink", LIMIT_MS);

    // Both run through all rounds, so each side's peak covers the same work.
    const ourMemory = sampleTree(async () => daemon.pid ?? 0);
    const theirMemory = sampleTree(() => postfix.masterPid());
    // Alternating rounds, so a busy machine slows both alike; the median round is reported.
    const ours = () => measure("semail outbound", sink, N, () => sendLoad({ ...load, port: outboundPort, auth: outboundAuth }));
    const theirs = () => measure("postfix", sink, N, () => sendLoad({ ...load, port: postfix.port }));
    for (let round = 0; round < ROUNDS; round++) {
      // Who goes first alternates too.
      for (const run of round % 2 === 0 ? [ours, theirs] : [theirs, ours]) results.push(await run());
    }
    const ourPeak = await ourMemory.stop();
    const theirPeak = await theirMemory.stop();
    const ourPeakRss = Math.max(ourPeak.rss, await peakRss(daemon.pid ?? 0));
    results.push(await measure("postfix (smtp-source)", sink, N, () =>
      smtpSource({ port: postfix.port, sessions: SESSIONS, messages: N, size: SIZE, from: load.from, recipients: [load.to], reuseConnections: false })));
    await until(async () => (await readdir(join(spool, "queue"))).length === 0, "semail's spool to empty", 30_000);

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
    console.log(`  peak over the rounds: semail outbound RSS ${mb(ourPeakRss)} PSS ${mb(ourPeak.pss)}, postfix RSS ${mb(theirPeak.rss)} PSS ${mb(theirPeak.pss)} (summed over its processes)`);
    console.log(JSON.stringify({
      bench: "relay", messages: N, size: SIZE, sessions: SESSIONS, concurrency: CONCURRENCY,
      semail: Math.round(semail), postfix: Math.round(reference), ratio: Number((semail / reference).toFixed(2)),
      peakRss: { semail: ourPeakRss, postfix: theirPeak.rss }, peakPss: { semail: ourPeak.pss, postfix: theirPeak.pss },
      results: results.map((r) => ({ ...r, msgPerSec: Math.round(rate(r)) })),
    }));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`));
    await removeDir(dir);
  }
}

if (import.meta.main) await main(process.argv.slice(2));
