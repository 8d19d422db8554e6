// Factories for queue tests: a queue with an injected sender and clock, and a loop that
// moves the clock from timer to timer. (A spool in a temp dir: ../spool/temp-spool.ts.)
import { Readable } from "node:stream";
import { silentLogger } from "../../../../../lib/logger.ts";
import { Queue, type DeliveryJob, type DeliveryResult } from "../../../../../mailservers/outbound/relay/queue/queue.ts";
import type { RetryPolicy } from "../../../../../mailservers/outbound/relay/queue/retry.ts";
import type { Spool } from "../../../../../mailservers/outbound/relay/spool/spool.ts";
import { ManualClock } from "../manual-clock.ts";

export interface Attempt {
  readonly at: number;
  readonly job: DeliveryJob;
  readonly body: string;
}

export type Answer = (recipient: string, attempt: Attempt, n: number) => Omit<DeliveryResult, "recipient">;

export const ok: Answer = () => ({
  status: "delivered",
  response: "250 2.0.0 ok",
  code: 250,
  enhanced: "2.0.0",
  host: "mx.example.net",
});
export const soft: Answer = () => ({
  status: "deferred",
  response: "451 4.3.0 try later",
  code: 451,
  enhanced: "4.3.0",
  host: "mx.example.net",
});
export const hard: Answer = () => ({
  status: "bounced",
  response: "550 5.1.1 no such user",
  code: 550,
  enhanced: "5.1.1",
  host: "mx.example.net",
});

export interface QueueFixture {
  readonly queue: Queue;
  readonly clock: ManualClock;
  readonly spool: Spool;
  readonly attempts: Attempt[];
  /** Moves the clock timer by timer up to `ms` from now, letting each round of deliveries finish. */
  run(ms: number): Promise<void>;
}

const FAST: RetryPolicy = { delays: [60_000, 120_000, 600_000], maxAge: 3_600_000, delayNotice: 0 };

export async function makeQueue(
  spool: Spool,
  answer: Answer,
  options: {
    retry?: Partial<RetryPolicy>;
    clock?: ManualClock;
    concurrency?: number;
    perDomainConcurrency?: number;
    gate?: (a: Attempt) => Promise<void>;
  } = {},
): Promise<QueueFixture> {
  const clock = options.clock ?? new ManualClock();
  const attempts: Attempt[] = [];
  const counts = new Map<string, number>();
  const queue = new Queue({
    spool,
    clock,
    retry: { ...FAST, ...options.retry },
    concurrency: options.concurrency ?? 10,
    perDomainConcurrency: options.perDomainConcurrency ?? 5,
    hostname: "relay.semail.test",
    logger: silentLogger(),
    async deliver(job) {
      const chunks: Buffer[] = [];
      for await (const c of job.message()) chunks.push(c as Buffer);
      const attempt = { at: clock.now(), job, body: Buffer.concat(chunks).toString("utf8") };
      attempts.push(attempt);
      await options.gate?.(attempt);
      return job.recipients.map((recipient) => {
        const n = (counts.get(recipient) ?? 0) + 1;
        counts.set(recipient, n);
        return { recipient, ...answer(recipient, attempt, n) };
      });
    },
  });
  await queue.start();
  const run = async (ms: number): Promise<void> => {
    const end = clock.now() + ms;
    for (let i = 0; i < 10_000; i++) {
      await queue.idle();
      const next = clock.nextTimer();
      if (next === undefined || next > end) break;
      clock.advance(Math.max(0, next - clock.now()));
    }
    await queue.idle();
    clock.advance(Math.max(0, end - clock.now()));
    await queue.idle();
  };
  return { queue, clock, spool, attempts, run };
}

export const MESSAGE =
  "From: Alice <alice@semail.test>\r\nTo: bob@example.net\r\nSubject: hello\r\nMessage-ID: <m1@semail.test>\r\n\r\nHi Bob.\r\n";

/** Spools MESSAGE and adds it to the queue. */
export async function submit(f: QueueFixture, from: string, recipients: string[], text = MESSAGE) {
  const record = await f.spool.accept(
    { from, recipients, arrival: f.clock.now(), user: "alice" },
    Readable.from([Buffer.from(text)]),
  );
  await f.queue.add(record);
  return record;
}

/** The parts of a multipart/report DSN by content type (mailparser folds the report into text). */
export async function dsnParts(
  raw: string,
): Promise<{ parsed: import("mailparser").ParsedMail; parts: Map<string, string> }> {
  const { simpleParser } = await import("mailparser");
  const parsed = await simpleParser(raw);
  const type = parsed.headers.get("content-type") as { value: string; params: Record<string, string> };
  if (type.value !== "multipart/report") throw new Error(`not a multipart/report: ${type.value}`);
  const boundary = type.params.boundary!;
  const parts = new Map<string, string>();
  for (const chunk of raw.split(`\r\n--${boundary}`).slice(1)) {
    if (chunk.startsWith("--")) break;
    const [head = "", ...rest] = chunk.replace(/^\r\n/, "").split("\r\n\r\n");
    const ct = /^content-type:\s*([^;\r\n]+)/im.exec(head)?.[1]?.trim().toLowerCase() ?? "text/plain";
    parts.set(ct, rest.join("\r\n\r\n"));
  }
  return { parsed, parts };
}
