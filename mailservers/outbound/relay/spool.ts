// The crash-safe spool: one file per message, named by its queue id, plus a journal
// of per-recipient outcomes. The directory listing is the index (Haraka's qfile): a
// restart rebuilds the queue with readdir and replays the journals.
//
//   <spool>/tmp/<id>        being received; deleted at start (never acknowledged)
//   <spool>/queue/<id>.msg  line 1: the envelope as JSON; then the message bytes
//   <spool>/queue/<id>.log  journal (journal.ts): one JSON line per event, fsynced
//   <spool>/control/        requests from `semail queue` (flush, remove.<id>)
//
// A message is acknowledged (250) only after its file and the directory entry are
// fsynced. The .log is created by the first journal entry, and fsynced with its directory.
// Concurrent directory fsyncs are shared (group commit).
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { syncDirectory } from "../../../lib/durable-file.ts";
import { decodeJournal, encodeEntry, type JournalEntry } from "./journal.ts";

export interface SpoolEnvelope {
  /** Reverse path; "" for the null sender (our own DSNs). */
  readonly from: string;
  readonly recipients: readonly string[];
  /** Arrival time, ms since the epoch. */
  readonly arrival: number;
  /** Authenticated submitter, for logs and `semail queue list`. */
  readonly user?: string;
  /** True for a DSN we generated: never bounced itself. */
  readonly dsn?: boolean;
}

export interface SpoolRecord extends SpoolEnvelope {
  readonly id: string;
  /** Byte offset of the message after the envelope line. */
  readonly offset: number;
  /** Size of the message in bytes. */
  readonly size: number;
}

/** Queue ids are generated here; anything else (a CLI argument) must match before it becomes a path. */
export const QUEUE_ID = /^[0-9A-Z]{8,40}$/;

export class SpoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolError";
  }
}

const MAX_ENVELOPE_LINE = 8 * 1024 * 1024;

export class Spool {
  readonly dir: string;
  readonly queueDir: string;
  readonly tmpDir: string;
  readonly controlDir: string;

  /** Directory fsyncs in progress and asked for: concurrent accepts share one (group commit). */
  #dirSync: Promise<void> | undefined;
  #nextDirSync: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.queueDir = join(dir, "queue");
    this.tmpDir = join(dir, "tmp");
    this.controlDir = join(dir, "control");
  }

  /** Creates the directories; `clean` also drops half-received files (the daemon, not the CLI). */
  async open(options: { clean: boolean }): Promise<void> {
    for (const d of [this.dir, this.queueDir, this.tmpDir, this.controlDir]) await mkdir(d, { recursive: true, mode: 0o700 });
    if (options.clean) {
      for (const name of await readdir(this.tmpDir)) await rm(join(this.tmpDir, name), { force: true });
      const names = new Set(await readdir(this.queueDir));
      for (const name of names) {
        // A journal whose message is gone: the message was removed, or never acknowledged.
        if (name.endsWith(".log") && !names.has(`${name.slice(0, -4)}.msg`)) await rm(join(this.queueDir, name), { force: true });
      }
    }
  }

  newId(now: number): string {
    return `${now.toString(36).toUpperCase().padStart(9, "0")}${randomBytes(5).toString("hex").toUpperCase()}`;
  }

  msgPath(id: string): string {
    return join(this.queueDir, `${checkId(id)}.msg`);
  }

  logPath(id: string): string {
    return join(this.queueDir, `${checkId(id)}.log`);
  }

  /**
   * Writes the message durably and returns its record. `id` is given for a DSN (a
   * deterministic id, so a crash cannot queue the same DSN twice): if it is already
   * queued, the existing record is returned.
   */
  async accept(envelope: SpoolEnvelope, message: Readable | Buffer, id = this.newId(envelope.arrival)): Promise<SpoolRecord> {
    checkId(id);
    if (Buffer.isBuffer(message)) {
      const existing = await this.read(id).catch(() => undefined);
      if (existing) return existing;
    }
    const line = Buffer.from(`${JSON.stringify({ v: 1, ...envelope })}\n`);
    const tmp = join(this.tmpDir, id);
    const file = await open(tmp, "wx", 0o600);
    let size = 0;
    try {
      if (Buffer.isBuffer(message)) {
        await file.writev([line, message]);
        size = message.length;
      } else {
        // Chunks are gathered into few large writes: most messages are one write.
        let pending: Buffer[] = [line];
        let pendingBytes = line.length;
        for await (const chunk of message) {
          const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
          pending.push(buf);
          pendingBytes += buf.length;
          size += buf.length;
          if (pendingBytes >= 256 * 1024) {
            await file.writev(pending);
            pending = [];
            pendingBytes = 0;
          }
        }
        if (pending.length > 0) await file.writev(pending);
      }
      await file.sync();
    } catch (err) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
    await file.close();
    try {
      await rename(tmp, this.msgPath(id));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    await this.#syncQueueDir();
    return { id, ...envelope, offset: line.length, size };
  }

  /**
   * Makes the queue directory's entries durable. A caller that arrives while a sync runs
   * waits for the next one, which starts after it and covers every rename before it.
   */
  #syncQueueDir(): Promise<void> {
    if (!this.#dirSync) {
      this.#dirSync = syncDirectory(this.queueDir).finally(() => (this.#dirSync = undefined));
      return this.#dirSync;
    }
    this.#nextDirSync ??= this.#dirSync.catch(() => undefined).then(() => {
      this.#nextDirSync = undefined;
      return this.#syncQueueDir();
    });
    return this.#nextDirSync;
  }

  /** Ids of every queued message (in name order; arrival times are in the envelopes). */
  async ids(): Promise<string[]> {
    const names = await readdir(this.queueDir);
    return names
      .filter((n) => n.endsWith(".msg"))
      .map((n) => n.slice(0, -4))
      .filter((id) => QUEUE_ID.test(id))
      .sort();
  }

  /** The envelope of a queued message. */
  async read(id: string): Promise<SpoolRecord> {
    const file = await open(this.msgPath(id), "r");
    try {
      const { size } = await file.stat();
      const chunks: Buffer[] = [];
      let length = 0;
      for (;;) {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await file.read(buf, 0, buf.length, length);
        if (bytesRead === 0) throw new SpoolError(`${id}: envelope line not terminated`);
        const part = buf.subarray(0, bytesRead);
        const nl = part.indexOf(10);
        if (nl >= 0) {
          chunks.push(part.subarray(0, nl));
          length += nl + 1;
          break;
        }
        chunks.push(part);
        length += bytesRead;
        if (length > MAX_ENVELOPE_LINE) throw new SpoolError(`${id}: envelope line too long`);
      }
      const raw = JSON.parse(Buffer.concat(chunks).toString("utf8")) as SpoolEnvelope & { v?: number };
      return {
        id,
        from: String(raw.from),
        recipients: raw.recipients.map(String),
        arrival: Number(raw.arrival),
        ...(raw.user !== undefined ? { user: String(raw.user) } : {}),
        ...(raw.dsn ? { dsn: true } : {}),
        offset: length,
        size: size - length,
      };
    } finally {
      await file.close();
    }
  }

  /** The message bytes, streamed from disk. */
  message(record: SpoolRecord): Readable {
    return createReadStream(this.msgPath(record.id), { start: record.offset });
  }

  /** The message's header section (up to the first empty line), at most `limit` bytes. */
  async headers(record: SpoolRecord, limit = 64 * 1024): Promise<string> {
    const file = await open(this.msgPath(record.id), "r");
    try {
      const buf = Buffer.alloc(Math.min(limit, record.size));
      const { bytesRead } = await file.read(buf, 0, buf.length, record.offset);
      const text = buf.subarray(0, bytesRead).toString("utf8");
      const end = text.search(/\r?\n\r?\n/);
      return end >= 0 ? text.slice(0, end) : text;
    } finally {
      await file.close();
    }
  }

  /** Appends entries to the message's journal and fsyncs it before resolving. */
  async append(id: string, entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const file: FileHandle = await open(this.logPath(id), "a", 0o600);
    let created: boolean;
    try {
      created = (await file.stat()).size === 0;
      await file.write(entries.map((e) => `${encodeEntry(e)}\n`).join(""));
      await file.sync();
    } finally {
      await file.close();
    }
    // The journal is created by its first entry (most messages never need one): its name must be durable too.
    if (created) await this.#syncQueueDir();
  }

  /**
   * Deletes a finished message durably. Used instead of a last journal entry when an
   * attempt ends the message: either way a crash just after the remote reply repeats
   * that one attempt at most.
   */
  async removeDurably(id: string): Promise<void> {
    await this.remove(id);
    await this.#syncQueueDir();
  }

  /** The message's journal; a torn last line (a crash mid-append) is skipped, so its reply is retried. */
  async journal(id: string): Promise<JournalEntry[]> {
    let text: string;
    try {
      const file = await open(this.logPath(id), "r");
      try {
        text = await file.readFile("utf8");
      } finally {
        await file.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    return decodeJournal(text);
  }

  /** Deletes a message: the .msg first, so a crash in between leaves only a journal, cleaned at start. */
  async remove(id: string): Promise<boolean> {
    const gone = (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
      return false;
    };
    const existed = await unlink(this.msgPath(id)).then(() => true, gone);
    await unlink(this.logPath(id)).catch(gone);
    return existed;
  }
}

function checkId(id: string): string {
  if (!QUEUE_ID.test(id)) throw new SpoolError(`${JSON.stringify(id)} is not a queue id (8-40 characters A-Z, 0-9)`);
  return id;
}

