// Rspamd's memory, for the whole-VM table: Debian's rspamd with the package's own default
// configuration (what a user who turns inbound.rspamd on runs), its DNS pointed at a named of
// ours on loopback (which answers only its own zone, so its DNS lists fail at once and nothing
// leaves loopback). PSS, USS and RSS of its whole process tree (main, workers, hyperscan
// helper): idle after its very first start, which compiles the public suffix list and its
// regular expressions into hyperscan databases in the main process (and keeps what that took
// until it restarts); then, restarted on the same database directory as an installed Rspamd is
// (/var/lib/rspamd), idle after start, peak while scoring, and idle again after scoring N
// messages sent through inbound's own Rspamd client.
//
//   node bench/memory/rspamd-memory.ts [--messages 200] [--idle 20] [--lean]
//   npm run bench -- memory ... --rspamd        (the same, as one more row after the VM's table)
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startNamed } from "../../deploy/local/named.ts";
import { checkMessage } from "../../mailservers/inbound/spam/rspamd-client.ts";
import { maxMemory, NO_MEMORY, processMemory, treeMemory, type Memory } from "../lib/smaps.ts";
import { processTree } from "../lib/process.ts";
import { startRspamd, type RspamdOptions } from "./rspamd.ts";

const MIB = 1024 ** 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RspamdMemory {
  readonly config: RspamdOptions["config"];
  readonly messages: number;
  readonly seconds: number;
  readonly verdicts: Readonly<Record<string, number>>;
  /** Idle after the first start ever, its hyperscan caches built then (until a restart). */
  readonly firstStart: Memory & { readonly processes: number };
  /** Idle after a restart, the caches read from disk: what a running installation holds. */
  readonly idle: Memory & { readonly processes: number };
  readonly peak: Memory;
  readonly afterLoad: Memory & { readonly processes: number };
  /** Each process after the load, by its title (rspamd: normal process, ...). */
  readonly byProcess: ReadonlyArray<Memory & { readonly name: string }>;
}

async function eachProcess(root: number): Promise<Array<Memory & { name: string }>> {
  const each: Array<Memory & { name: string }> = [];
  for (const pid of await processTree(root)) {
    const title = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replace(/\0+/g, " ").trim();
    const name = title.startsWith("rspamd:") ? title.slice("rspamd:".length).trim() : "main process";
    each.push({ name, ...(await processMemory(pid)) });
  }
  return each;
}

/** Message `i` of the load: plain text, HTML with links, a 48 KiB attachment, a spammy one in turn. */
export function sampleMessage(i: number): Buffer {
  const head = [
    `From: Sender ${i} <sender${i}@example.org>`,
    `To: <user@bench.test>`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <m${i}@example.org>`,
    "MIME-Version: 1.0",
  ];
  const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ".repeat(30);
  switch (i % 4) {
    case 0:
      return Buffer.from(
        [...head, `Subject: notes ${i}`, "Content-Type: text/plain; charset=utf-8", "", words].join("\r\n"),
      );
    case 1:
      return Buffer.from(
        [
          ...head,
          `Subject: newsletter ${i}`,
          "Content-Type: text/html; charset=utf-8",
          "",
          `<html><body><p>${words}</p><a href="http://shop${i}.example.com/offer?id=${i}">offer</a> <a href="https://example.net/u/${i}">unsubscribe</a></body></html>`,
        ].join("\r\n"),
      );
    case 2: {
      const attachment = Buffer.alloc(48 * 1024, i)
        .toString("base64")
        .replace(/.{76}/g, "$&\r\n");
      return Buffer.from(
        [
          ...head,
          `Subject: report ${i}`,
          'Content-Type: multipart/mixed; boundary="b"',
          "",
          "--b",
          "Content-Type: text/plain",
          "",
          words,
          "--b",
          'Content-Type: application/pdf; name="report.pdf"',
          "Content-Transfer-Encoding: base64",
          "",
          attachment,
          "--b--",
          "",
        ].join("\r\n"),
      );
    }
    default:
      return Buffer.from(
        [
          ...head,
          `Subject: FREE MONEY!!! WINNER ${i}`,
          "Content-Type: text/plain",
          "",
          `CLICK NOW http://win${i}.example.biz/ ${words}`,
        ].join("\r\n"),
      );
  }
}

export async function measureRspamd(
  options: { messages?: number; idleMs?: number; concurrency?: number; config?: "debian" | "debian-lean" } = {},
): Promise<RspamdMemory> {
  const config = options.config ?? "debian";
  const messages = options.messages ?? 200;
  const idleMs = options.idleMs ?? 20_000;
  const dir = await mkdtemp(join(tmpdir(), "semail-bench-rspamd-"));
  try {
    const named = await startNamed({
      dataDir: join(dir, "named"),
      zones: [
        {
          name: "bench.test",
          text: "$TTL 300\n@ IN SOA ns.bench.test. root.bench.test. 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n",
        },
      ],
    });
    try {
      const start = () => startRspamd({ dir: join(dir, "rspamd"), config, nameserver: named.server });
      const first = await start();
      let firstStart;
      try {
        await sleep(idleMs);
        firstStart = await treeMemory(first.pid);
      } finally {
        await first.stop();
      }
      const rspamd = await start();
      try {
        await sleep(idleMs);
        const idle = await treeMemory(rspamd.pid);
        let peak: Memory = NO_MEMORY;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            peak = maxMemory(peak, await treeMemory(rspamd.pid));
            await sleep(250);
          }
        })();
        const verdicts: Record<string, number> = {};
        const started = Date.now();
        let next = 0;
        const worker = async () => {
          for (let i = next++; i < messages; i = next++) {
            const result = await checkMessage(
              rspamd.url,
              [sampleMessage(i)],
              {
                ip: "192.0.2.10",
                helo: "mail.example.org",
                from: `sender${i}@example.org`,
                recipients: ["user@bench.test"],
                queueId: `q${i}`,
              },
              30_000,
            );
            verdicts[result.action] = (verdicts[result.action] ?? 0) + 1;
          }
        };
        await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
        const seconds = (Date.now() - started) / 1000;
        sampling = false;
        await sampler;
        await sleep(idleMs);
        const afterLoad = await treeMemory(rspamd.pid);
        const byProcess = await eachProcess(rspamd.pid);
        return { config, messages, seconds, verdicts, firstStart, idle, peak, afterLoad, byProcess };
      } finally {
        await rspamd.stop();
      }
    } finally {
      await named.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const mib = (bytes: number) => (bytes / MIB).toFixed(1);

export function rspamdReport(m: RspamdMemory): string {
  const row = (name: string, mem: Memory, processes?: number) =>
    `  ${name.padEnd(34)} ${mib(mem.pss).padStart(8)} ${mib(mem.uss).padStart(8)} ${mib(mem.rss).padStart(8)}${processes === undefined ? "" : `   ${processes} processes`}`;
  return [
    `rspamd (Debian's package, its default configuration${m.config === "debian" ? "" : " without the proxy worker"}): ${m.messages} messages scored in ${m.seconds.toFixed(1)} s (${Object.entries(
      m.verdicts,
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(", ")})`,
    `  ${"MiB".padEnd(34)} ${"PSS".padStart(8)} ${"USS".padStart(8)} ${"RSS".padStart(8)}`,
    row("idle after its first start", m.firstStart, m.firstStart.processes),
    row("idle after a restart", m.idle, m.idle.processes),
    row(`peak while scoring`, m.peak),
    row(`idle after ${m.messages} messages`, m.afterLoad, m.afterLoad.processes),
    ...m.byProcess.map((p) => row(`  ${p.name}`, p)),
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      messages: { type: "string", default: "200" },
      idle: { type: "string", default: "20" },
      lean: { type: "boolean", default: false },
    },
  });
  const m = await measureRspamd({
    messages: Number(values.messages),
    idleMs: Number(values.idle) * 1000,
    config: values.lean ? "debian-lean" : "debian",
  });
  console.log(rspamdReport(m));
  console.log(JSON.stringify({ bench: "memory-rspamd", ...m }));
}

if (import.meta.main) await main(process.argv.slice(2));
