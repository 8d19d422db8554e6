// The crash-safe spool. The directory listing is the index (Haraka's qfile): a restart
// rebuilds the queue with readdir and replays the journals.
//
//   <spool>/queue/<name>.seg  messages accepted together, and <name>.done, those of them
//                             finished (segment.ts): one fdatasync makes a group durable
//   <spool>/queue/<id>.msg    a message in a file of its own: line 1 the envelope as JSON,
//                             then the bytes (a large message, or one waiting for a retry)
//   <spool>/tmp/<id>          a .msg being written; deleted at start (never acknowledged)
//   <spool>/queue/<id>.log    journal (journal.ts): one JSON line per event, fsynced
//   <spool>/control/          requests from `semail queue` (flush, remove.<id>)
//
// A message is acknowledged (250) only once its bytes and the directory entries that lead
// to them are synced. Concurrent accepts share their syncs (group commit).
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { systemClock, type Clock } from "../../../../lib/clock.ts";
import { syncDirectory } from "../../../../lib/durable-file.ts";
import type { GroupCommitOptions } from "./group-commit.ts";
import { appendedText, decodeJournal, type JournalEntry } from "./journal.ts";
import { DONE_SUFFIX, SEGMENT_SUFFIX, envelopeOf, parseDone, parseSegment } from "./segment.ts";
import { SegmentStore } from "./segment-store.ts";
import type { SpoolEnvelope, SpoolRecord } from "./record.ts";

export interface SpoolOptions {
  /** Messages up to this size go into a segment; larger ones get a file of their own. */
  readonly segmentMessageLimit?: number;
  /** A segment takes no more messages once it is this large. */
  readonly segmentBytes?: number;
  /** The current segment is closed and deleted once its messages have all been finished this long. */
  readonly segmentIdleMs?: number;
  /** Replaces fdatasync(2) for segments and done files (tests count or hold the syncs). */
  readonly groupCommit?: GroupCommitOptions;
  /** Names segments and times the idle one out: the queue's clock, so tests move it by hand. */
  readonly clock?: Clock;
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
/** Bytes of just accepted messages kept in memory for their first delivery, which is most often at once. */
const FRESH_BYTES = 4 * 1024 * 1024;

/** What the queue directory holds, read from disk. */
interface Scan {
  readonly names: readonly string[];
  /** Ids with a file of their own. */
  readonly own: ReadonlySet<string>;
  /** Each segment's messages still to deliver. */
  readonly segments: ReadonlyMap<string, readonly SpoolRecord[]>;
  readonly records: ReadonlyMap<string, SpoolRecord>;
}

const envelopeFields = (r: SpoolEnvelope): SpoolEnvelope => ({
  from: r.from,
  recipients: r.recipients,
  arrival: r.arrival,
  ...(r.user !== undefined ? { user: r.user } : {}),
  ...(r.dsn ? { dsn: true } : {}),
});

const gone = (err: NodeJS.ErrnoException): false => {
  if (err.code !== "ENOENT") throw err;
  return false;
};

export class Spool {
  readonly dir: string;
  readonly queueDir: string;
  readonly tmpDir: string;
  readonly controlDir: string;

  readonly #segmentMessageLimit: number;
  readonly #segments: SegmentStore;
  /**
   * The daemon's spool (opened with `clean`): it alone writes, so what it holds in memory
   * is the truth. A CLI's spool reads the directory instead.
   */
  #owner = false;
  /** Messages in segments, by id (the owner's). */
  readonly #records = new Map<string, SpoolRecord>();
  /** Ids with a journal file (the owner's): the others need no unlink. */
  readonly #journals = new Set<string>();
  /** Bytes of messages just accepted, by id, oldest first. */
  readonly #fresh = new Map<string, readonly Buffer[]>();
  #freshBytes = 0;
  /** Messages moved out of their segment (detach), by id, until they are removed. */
  readonly #moved = new Map<string, SpoolRecord>();
  /** A CLI's last reading of the directory. */
  #lastScan: Scan | undefined;

  /** Directory fsyncs in progress and asked for: concurrent accepts share one (group commit). */
  #dirSync: Promise<void> | undefined;
  #nextDirSync: Promise<void> | undefined;

  constructor(dir: string, options: SpoolOptions = {}) {
    this.dir = dir;
    this.queueDir = join(dir, "queue");
    this.tmpDir = join(dir, "tmp");
    this.controlDir = join(dir, "control");
    // Larger messages are streamed to a file of their own rather than held in memory until the group is written.
    this.#segmentMessageLimit = options.segmentMessageLimit ?? 256 * 1024;
    const clock = options.clock ?? systemClock;
    this.#segments = new SegmentStore({
      dir: this.queueDir,
      segmentBytes: options.segmentBytes ?? 4 * 1024 * 1024,
      idleMs: options.segmentIdleMs ?? 2000,
      clock,
      newName: () => this.newId(clock.now()),
      syncDir: () => this.#syncQueueDir(),
      ...(options.groupCommit ? { groupCommit: options.groupCommit } : {}),
    });
  }

  /**
   * Creates the directories. `clean` (the daemon, not the CLI) also drops half-received
   * files, spent segments and journals whose message is gone, and takes the spool over.
   */
  async open(options: { clean: boolean }): Promise<void> {
    for (const d of [this.dir, this.queueDir, this.tmpDir, this.controlDir])
      await mkdir(d, { recursive: true, mode: 0o700 });
    if (!options.clean) return;
    for (const name of await readdir(this.tmpDir)) await rm(join(this.tmpDir, name), { force: true });
    const scan = await this.#scan();
    for (const [name, live] of scan.segments) {
      if (live.length === 0) {
        await this.#segments.deleteSpent(name);
        continue;
      }
      this.#segments.adopt(
        name,
        live.map((r) => r.id),
      );
      for (const record of live) this.#records.set(record.id, record);
    }
    for (const name of scan.names) {
      const base = name.slice(0, name.lastIndexOf("."));
      // A journal whose message is gone: the message was removed, or never acknowledged.
      if (name.endsWith(".log")) {
        if (scan.own.has(base) || this.#records.has(base)) this.#journals.add(base);
        else await rm(join(this.queueDir, name), { force: true });
      }
      // A done file whose segment was deleted.
      if (name.endsWith(DONE_SUFFIX) && !scan.segments.has(base)) await rm(join(this.queueDir, name), { force: true });
    }
    this.#owner = true;
  }

  /** Waits for the spool's writes and deletions under way, and closes its files. */
  async close(): Promise<void> {
    await this.#segments.close();
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

  /** The file that holds the message's bytes (at `record.offset`). */
  fileOf(record: SpoolRecord): string {
    const current = this.#whereNow(record);
    return current.segment === undefined ? this.msgPath(current.id) : this.#segments.segmentPath(current.segment);
  }

  /** The record as it is now: a message may have moved out of its segment since the caller took it. */
  #whereNow(record: SpoolRecord): SpoolRecord {
    return (record.segment !== undefined && this.#moved.get(record.id)) || record;
  }

  /**
   * Writes the message durably and returns its record: into the current segment, shared
   * with the messages accepted meanwhile, or into a file of its own when it is larger
   * than the segment limit. `head` goes before the message (our Received header). `id` is
   * given for a DSN (a deterministic id, so a crash cannot queue the same DSN twice): if
   * it is already queued, the existing record is returned.
   */
  async accept(
    envelope: SpoolEnvelope,
    message: Readable | Buffer,
    id = this.newId(envelope.arrival),
    head?: Buffer,
  ): Promise<SpoolRecord> {
    checkId(id);
    const parts: Buffer[] = head ? [head] : [];
    let rest: Readable | undefined;
    if (Buffer.isBuffer(message)) {
      const existing = await this.read(id).catch(() => undefined);
      if (existing) return existing;
      parts.push(message);
    } else {
      rest = await this.#gather(message, parts);
    }
    let size = 0;
    for (const part of parts) size += part.length;
    if (rest || size > this.#segmentMessageLimit) return this.#writeOwnFile(id, envelope, parts, rest);
    const record = await this.#segments.append(id, envelope, parts);
    if (this.#owner) this.#records.set(id, record);
    this.#keepFresh(id, parts, size);
    return record;
  }

  /**
   * Reads the message into `parts` up to the segment limit; resolves with the stream,
   * paused, if there is more. Events rather than an async iterator: a chunk costs less.
   */
  #gather(message: Readable, parts: Buffer[]): Promise<Readable | undefined> {
    let size = 0;
    for (const part of parts) size += part.length;
    return new Promise((resolve, reject) => {
      const done = (outcome: () => void) => {
        message.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
        outcome();
      };
      const onData = (chunk: Buffer | string) => {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        parts.push(buf);
        size += buf.length;
        if (size > this.#segmentMessageLimit) {
          message.pause();
          done(() => resolve(message));
        }
      };
      const onEnd = () => done(() => resolve(undefined));
      const onError = (err: Error) => done(() => reject(err));
      const onClose = () => done(() => reject(new Error("the message stream closed before its end")));
      message.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose);
    });
  }

  /** Writes a message to a file of its own: a temp file, synced, renamed into the queue. */
  async #writeOwnFile(
    id: string,
    envelope: SpoolEnvelope,
    head: readonly Buffer[],
    rest?: AsyncIterable<unknown>,
  ): Promise<SpoolRecord> {
    const line = Buffer.from(`${JSON.stringify({ v: 1, ...envelope })}\n`);
    const tmp = join(this.tmpDir, id);
    const file = await open(tmp, "wx", 0o600);
    let size = 0;
    try {
      // Chunks are gathered into few large writes: most messages are one write.
      let pending: Buffer[] = [line];
      let pendingBytes = line.length;
      const add = async (buf: Buffer) => {
        pending.push(buf);
        pendingBytes += buf.length;
        size += buf.length;
        if (pendingBytes >= 256 * 1024) {
          await file.writev(pending);
          pending = [];
          pendingBytes = 0;
        }
      };
      for (const buf of head) await add(buf);
      for await (const chunk of rest ?? [])
        await add(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
      if (pending.length > 0) await file.writev(pending);
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

  #keepFresh(id: string, parts: readonly Buffer[], size: number): void {
    if (!this.#owner || size > FRESH_BYTES / 8) return;
    this.#fresh.set(id, parts);
    this.#freshBytes += size;
    for (const [oldest, bytes] of this.#fresh) {
      if (this.#freshBytes <= FRESH_BYTES) break;
      this.#forget(oldest, bytes);
    }
  }

  #forget(id: string, bytes = this.#fresh.get(id)): void {
    if (!bytes || !this.#fresh.delete(id)) return;
    for (const part of bytes) this.#freshBytes -= part.length;
  }

  /**
   * Moves a message out of its segment into a file of its own, and returns its new
   * record: a message that waits for a retry would keep its whole segment on disk.
   */
  async detach(record: SpoolRecord): Promise<SpoolRecord> {
    if (record.segment === undefined) return record;
    const already = this.#moved.get(record.id);
    if (already) return already;
    const moved = await this.#writeOwnFile(record.id, envelopeFields(record), [], this.message(record));
    // From here the own file is the message, even if the line below is lost in a crash.
    await this.#segments.finish(record);
    this.#records.delete(record.id);
    this.#forget(record.id);
    this.#moved.set(record.id, moved);
    return moved;
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
    this.#nextDirSync ??= this.#dirSync
      .catch(() => undefined)
      .then(() => {
        this.#nextDirSync = undefined;
        return this.#syncQueueDir();
      });
    return this.#nextDirSync;
  }

  /** What the queue directory holds now, segments read through. */
  async #scan(): Promise<Scan> {
    const names = await readdir(this.queueDir);
    const own = new Set(
      names
        .filter((n) => n.endsWith(".msg"))
        .map((n) => n.slice(0, -4))
        .filter((id) => QUEUE_ID.test(id)),
    );
    const segments = new Map<string, SpoolRecord[]>();
    const records = new Map<string, SpoolRecord>();
    for (const file of names) {
      if (!file.endsWith(SEGMENT_SUFFIX)) continue;
      const name = file.slice(0, -SEGMENT_SUFFIX.length);
      let data: Buffer;
      try {
        data = await readFile(join(this.queueDir, file));
      } catch (err) {
        gone(err as NodeJS.ErrnoException);
        continue; // Deleted while we read.
      }
      const done = parseDone(
        await readFile(this.#segments.donePath(name), "utf8").catch((err: NodeJS.ErrnoException) => {
          gone(err);
          return "";
        }),
      );
      // A message moved to a file of its own is that file's now.
      const live = parseSegment(name, data).records.filter(
        (r) => !done.has(r.id) && !own.has(r.id) && QUEUE_ID.test(r.id),
      );
      segments.set(name, live);
      for (const record of live) records.set(record.id, record);
    }
    return { names, own, segments, records };
  }

  /** Ids of every queued message, read from disk (in id order; arrival times are in the envelopes). */
  async ids(): Promise<string[]> {
    const scan = await this.#scan();
    if (!this.#owner) this.#lastScan = scan;
    return [...scan.own, ...scan.records.keys()].sort();
  }

  /** The envelope of a queued message. */
  async read(id: string): Promise<SpoolRecord> {
    checkId(id);
    const inSegment = this.#records.get(id);
    if (inSegment) return inSegment;
    try {
      return await this.#readOwnFile(id);
    } catch (err) {
      if (this.#owner || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      const found = (this.#lastScan ??= await this.#scan()).records.get(id);
      if (!found) throw err;
      return found;
    }
  }

  async #readOwnFile(id: string): Promise<SpoolRecord> {
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
      const envelope = envelopeOf(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
      if (!envelope) throw new SpoolError(`${id}: the envelope line lacks from, recipients or arrival`);
      return { id, ...envelope, offset: length, size: size - length };
    } finally {
      await file.close();
    }
  }

  /** The message bytes: from memory when just accepted, else streamed from disk. */
  message(record: SpoolRecord): Readable {
    const fresh = this.#fresh.get(record.id);
    if (fresh) return Readable.from(fresh, { objectMode: false });
    const current = this.#whereNow(record);
    if (current.segment !== undefined) return this.#segments.read(current);
    return createReadStream(this.msgPath(current.id), { start: current.offset });
  }

  /** The message's header section (up to the first empty line), at most `limit` bytes. */
  async headers(record: SpoolRecord, limit = 64 * 1024): Promise<string> {
    const current = this.#whereNow(record);
    const file = await open(this.fileOf(current), "r");
    try {
      const buf = Buffer.alloc(Math.min(limit, current.size));
      const { bytesRead } = await file.read(buf, 0, buf.length, current.offset);
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
    const file: FileHandle = await open(this.logPath(id), "a+", 0o600);
    let created: boolean;
    try {
      const { size } = await file.stat();
      created = size === 0;
      const last = Buffer.alloc(1);
      const torn = size > 0 && (await file.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 0x0a;
      await file.write(appendedText(entries, torn));
      await file.sync();
    } finally {
      await file.close();
    }
    this.#journals.add(id);
    // The journal is created by its first entry (most messages never need one): its name must be durable too.
    if (created) await this.#syncQueueDir();
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

  /**
   * Deletes a finished message durably. Used instead of a last journal entry when an
   * attempt ends the message: either way a crash just after the remote reply repeats
   * that one attempt at most.
   */
  async removeDurably(id: string): Promise<void> {
    if (await this.#removeFromSegment(id)) return;
    await this.remove(id);
    await this.#syncQueueDir();
  }

  /**
   * Deletes a message; false if there was none. A message in a segment is listed as done
   * (synced); one in its own file is unlinked, the file first, so a crash in between leaves
   * only a journal, cleaned at start.
   */
  async remove(id: string): Promise<boolean> {
    if (await this.#removeFromSegment(id)) return true;
    const existed = await unlink(this.msgPath(id)).then(() => true, gone);
    this.#moved.delete(id);
    await this.#removeJournal(id);
    return existed;
  }

  async #removeFromSegment(id: string): Promise<boolean> {
    const record = this.#records.get(id) ?? (this.#owner ? undefined : (await this.#scan()).records.get(id));
    if (record === undefined) return false;
    await this.#segments.finish(record);
    this.#records.delete(id);
    this.#forget(id);
    await this.#removeJournal(id);
    return true;
  }

  async #removeJournal(id: string): Promise<void> {
    if (this.#owner && !this.#journals.has(id)) return;
    this.#journals.delete(id);
    await unlink(this.logPath(id)).catch(gone);
  }
}

function checkId(id: string): string {
  if (!QUEUE_ID.test(id)) throw new SpoolError(`${JSON.stringify(id)} is not a queue id (8-40 characters A-Z, 0-9)`);
  return id;
}
