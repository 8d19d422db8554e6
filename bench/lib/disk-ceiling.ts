// The machine's ceiling for a delivery bench: how many messages per second a plain loop
// stores when all it does is append the same bytes to the same number of mbox-like files,
// syncing each append, at the same concurrency. No SMTP, no parsing, no locks (each append
// is one write(2) to a file opened O_APPEND once): what the disk allows, and nothing above.
//
// `copies` is the appends per message: 2 for SEMail (INBOX and the pair folder, synced
// together, as its store does), 1 for the peers. The loop runs in a child node whose thread
// pool has one thread per writer, so `concurrency` syncs can really wait at once.
import { execFile } from "node:child_process";
import { close, fdatasync, open, write } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { median } from "./median.ts";

export interface CeilingOptions {
  /** A folder on the filesystem the bench's mail goes to; made here (diskCeiling removes it). */
  readonly dir: string;
  readonly mailboxes: number;
  /** Appends (files written and synced) per message: one per mailbox copy. */
  readonly copies: number;
  readonly messages: number;
  /** Bytes per append: what one copy of a message takes in the mbox file. */
  readonly bytes: number;
  /** Writers at once (the bench's SMTP sessions). */
  readonly concurrency: number;
}

const openAsync = promisify(open);
const writeAsync = promisify(write);
// fdatasync, as SEMail's store syncs; an append changes the size, so it flushes as much as fsync.
const syncAsync = promisify(fdatasync);
const closeAsync = promisify(close);

/** Runs the loop in this process, leaving its files; resolves with messages per second. */
export async function appendLoop(options: CeilingOptions): Promise<number> {
  await mkdir(options.dir, { recursive: true });
  const fds: number[][] = [];
  for (let m = 0; m < options.mailboxes; m++) {
    const copies: number[] = [];
    for (let c = 0; c < options.copies; c++)
      copies.push(await openAsync(path.join(options.dir, `mbox-${m}-${c}`), "a"));
    fds.push(copies);
  }
  const message = Buffer.alloc(options.bytes, "x");
  message.write("From ceiling@bench.test Mon Dec  7 00:00:00 2026\n");
  message[message.length - 1] = 0x0a;
  let next = 0;
  const writer = async () => {
    while (next < options.messages) {
      const copies = fds[next++ % options.mailboxes]!;
      await Promise.all(
        copies.map(async (fd) => {
          await writeAsync(fd, message, 0, message.length, null);
          await syncAsync(fd);
        }),
      );
    }
  };
  try {
    const started = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, writer));
    return (options.messages * 1000) / (performance.now() - started);
  } finally {
    for (const copies of fds) for (const fd of copies) await closeAsync(fd);
  }
}

/**
 * The ceiling in messages per second: the median of `rounds` runs of the loop (a run takes
 * well under a second on a fast disk, so one burst of another process's I/O would move a
 * single one), each in a child process, on fresh files.
 */
export async function diskCeiling(options: CeilingOptions, rounds = 3): Promise<number> {
  const threads = Math.min(1024, Math.max(4, options.concurrency * options.copies));
  const rates: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      await rm(options.dir, { recursive: true, force: true });
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [fileURLToPath(import.meta.url), JSON.stringify(options)],
        { env: { ...process.env, UV_THREADPOOL_SIZE: String(threads) }, timeout: 30 * 60_000 },
      );
      rates.push(Number(stdout.trim()));
    }
    return median(rates);
  } finally {
    await rm(options.dir, { recursive: true, force: true });
  }
}

if (import.meta.main) console.log(await appendLoop(JSON.parse(process.argv[2]!) as CeilingOptions));
