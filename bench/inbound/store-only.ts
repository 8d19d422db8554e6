// The mbox store alone, without SMTP: `concurrency` deliveries in flight, each to one of
// `mailboxes` mailboxes in turn (as bench/inbound's smtp-source spreads them), on the
// disk that holds the temp directory. Prints msg/s and the CPU (user + system, every
// thread of this process) spent per message: the second is what a change to the store's
// append path moves, and it holds still on a machine that is busy with other work.
//
//   node bench/inbound/store-only.ts [--messages 2000] [--concurrency 20] [--size 4096] [--mailboxes 100] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { silentLogger } from "../../lib/logger.ts";
import type { Envelope } from "../../mailservers/core/types.ts";
import { createMboxStore, provisionPlainRoot } from "../../mailservers/inbound/store/index.ts";

function envelope(id: number, recipient: string): Envelope {
  return {
    id: `B${id}`,
    session: { id: `s${id}`, remoteAddress: "127.0.0.1", remotePort: 40000, localAddress: "127.0.0.1", localPort: 25, clientHostname: "source.test", secure: false },
    mailFrom: "bench@source.test",
    recipients: [recipient],
    protocol: "ESMTP",
    receivedAt: new Date(),
  };
}

/** A message of about `size` bytes in CRLF lines, in 64 KiB chunks as a socket gives them. */
function message(size: number): Buffer {
  const line = "x".repeat(76) + "\r\n";
  return Buffer.from(`From: bench@source.test\r\nSubject: bench\r\n\r\n${line.repeat(Math.max(1, Math.floor(size / line.length)))}`);
}

interface Round {
  readonly rate: number;
  readonly cpuMsPerMessage: number;
  readonly systemMsPerMessage: number;
}

async function round(messages: number, concurrency: number, size: number, mailboxes: number): Promise<Round> {
  const dir = await mkdtemp(path.join(tmpdir(), "semail-bench-store-"));
  try {
    const owners = Array.from({ length: mailboxes }, (_, i) => `box${String(i).padStart(2, "0")}`);
    for (const owner of owners) await provisionPlainRoot(dir, owner);
    const store = createMboxStore({ mailRoot: dir, hostname: "semail.bench.test", logger: silentLogger() });
    const data = message(size);
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const worker = async (slot: number) => {
      // Each slot keeps to its own mailboxes, as one smtp-source session per recipient does.
      while (next < messages) {
        const id = next++;
        const owner = owners[(slot + concurrency * id) % mailboxes]!;
        const chunks = [];
        for (let at = 0; at < data.length; at += 65536) chunks.push(data.subarray(at, at + 65536));
        await store.deliver(envelope(id, `${owner}@bench.test`), [{ owner, recipient: `${owner}@bench.test`, quota: 2 ** 40 }], Readable.from(chunks));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, slot) => worker(slot)));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await store.close();
    return { rate: messages / seconds, cpuMsPerMessage: (used.user + used.system) / 1000 / messages, systemMsPerMessage: used.system / 1000 / messages };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { messages: { type: "string" }, concurrency: { type: "string" }, size: { type: "string" }, mailboxes: { type: "string" }, rounds: { type: "string" } } });
  const messages = Number(values.messages ?? 2000);
  const concurrency = Number(values.concurrency ?? 20);
  const size = Number(values.size ?? 4096);
  const mailboxes = Number(values.mailboxes ?? 100);
  for (let i = 0; i < Number(values.rounds ?? 3); i++) {
    const { rate, cpuMsPerMessage, systemMsPerMessage } = await round(messages, concurrency, size, mailboxes);
    console.log(`store only: ${messages} messages, ${concurrency} in flight, ${size} B, ${mailboxes} mailboxes: ${rate.toFixed(0)} msg/s, CPU ${cpuMsPerMessage.toFixed(3)} ms/message (system ${systemMsPerMessage.toFixed(3)})`);
  }
}
