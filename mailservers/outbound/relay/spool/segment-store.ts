// The segments of the running daemon's spool (segment.ts): new messages are appended to
// the current segment, one fdatasync per group of them (group-commit.ts), until it is
// full, or all its messages have been finished for a while; a finished message is listed in
// its segment's done file, also in groups. A segment that is no longer current, whose
// messages are all finished and that no delivery is reading, is deleted.
import { createReadStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Clock } from "../../../../lib/clock.ts";
import { GroupCommitFile, type GroupCommitOptions } from "./group-commit.ts";
import { DONE_SUFFIX, SEGMENT_SUFFIX, recordHeader } from "./segment.ts";
import type { SpoolEnvelope, SpoolRecord } from "./record.ts";

export interface SegmentStoreOptions {
  /** The queue directory. */
  readonly dir: string;
  /** A segment takes no more appends once it is this large. */
  readonly segmentBytes: number;
  /** The current segment is closed (and so deleted) once all its messages have been finished this long. */
  readonly idleMs: number;
  /** Times the idle segment out. */
  readonly clock: Clock;
  /** A fresh name for a segment. */
  readonly newName: () => string;
  /** Makes the queue directory's entries durable (shared with the spool's other renames). */
  readonly syncDir: () => Promise<void>;
  readonly groupCommit?: GroupCommitOptions;
}

interface Segment {
  readonly name: string;
  /** Its messages not finished yet, including appends still under way. */
  readonly live: Set<string>;
  /** Deliveries reading from it now. */
  readers: number;
  /** The current segment's writer; undefined once it is full, and for older segments. */
  writer?: GroupCommitFile;
  /** Its done file, opened at the first finished message. */
  done?: Promise<GroupCommitFile>;
  deleting?: boolean;
}

const ENOENT = (err: NodeJS.ErrnoException) => {
  if (err.code !== "ENOENT") throw err;
};

export class SegmentStore {
  readonly #options: SegmentStoreOptions;
  readonly #segments = new Map<string, Segment>();
  #current: Segment | undefined;
  #rotating: Promise<void> | undefined;
  #cancelIdleTimer: (() => void) | undefined;
  readonly #deletions = new Set<Promise<void>>();

  constructor(options: SegmentStoreOptions) {
    this.#options = options;
  }

  segmentPath(name: string): string {
    return join(this.#options.dir, `${name}${SEGMENT_SUFFIX}`);
  }

  donePath(name: string): string {
    return join(this.#options.dir, `${name}${DONE_SUFFIX}`);
  }

  /** Takes over a segment found at start, with the ids in it still to deliver (at least one). */
  adopt(name: string, live: Iterable<string>): void {
    this.#segments.set(name, { name, live: new Set(live), readers: 0 });
  }

  /** Appends a message; resolves with its record once it is synced. */
  async append(id: string, envelope: SpoolEnvelope, parts: readonly Buffer[]): Promise<SpoolRecord> {
    const header = recordHeader(id, envelope, parts);
    let size = 0;
    for (const part of parts) size += part.length;
    let segment = this.#current;
    while (
      !segment?.writer?.usable ||
      (segment.writer.size > 0 && segment.writer.size + header.length + size > this.#options.segmentBytes)
    ) {
      this.#rotating ??= this.#rotate().finally(() => (this.#rotating = undefined));
      await this.#rotating;
      segment = this.#current;
    }
    // Counted as live before its bytes are written: its segment cannot be deleted under it.
    segment.live.add(id);
    let at: number;
    try {
      at = await segment.writer.append([header, ...parts]);
    } catch (err) {
      segment.live.delete(id);
      this.#retireIfUnusable(segment);
      throw err;
    }
    return { id, ...envelope, offset: at + header.length, size, segment: segment.name };
  }

  /** Starts a new current segment (its file and its done file, both durable); the old one is full. */
  async #rotate(): Promise<void> {
    const name = this.#options.newName();
    const writer = await GroupCommitFile.create(this.segmentPath(name), this.#options.groupCommit);
    let done: GroupCommitFile;
    try {
      done = await GroupCommitFile.create(this.donePath(name), this.#options.groupCommit);
      await this.#options.syncDir();
    } catch (err) {
      await writer.close();
      await unlink(this.segmentPath(name)).catch(ENOENT);
      await unlink(this.donePath(name)).catch(ENOENT);
      throw err;
    }
    const old = this.#current;
    const segment: Segment = { name, live: new Set(), readers: 0, writer, done: Promise.resolve(done) };
    this.#segments.set(name, segment);
    this.#current = segment;
    if (old) this.#retire(old);
  }

  #retireIfUnusable(segment: Segment): void {
    if (segment.writer && !segment.writer.usable) this.#retire(segment);
  }

  /** No more appends to `segment`: it goes once its messages are finished. */
  #retire(segment: Segment): void {
    const writer = segment.writer;
    if (!writer) return;
    segment.writer = undefined;
    if (this.#current === segment) this.#current = undefined;
    this.#track(writer.close().then(() => this.#deleteIfSpent(segment)));
  }

  /** The message's bytes, streamed from its segment (which is kept until the stream closes). */
  read(record: SpoolRecord): Readable {
    if (record.size === 0) return Readable.from([], { objectMode: false });
    const segment = this.#segments.get(record.segment!);
    const stream = createReadStream(this.segmentPath(record.segment!), {
      start: record.offset,
      end: record.offset + record.size - 1,
    });
    if (segment) {
      segment.readers++;
      stream.once("close", () => {
        segment.readers--;
        this.#deleteIfSpent(segment);
      });
    }
    return stream;
  }

  /**
   * Lists the message as finished in its segment's done file; resolves once that is
   * synced. In a process that does not own the segment (the CLI) only the list changes.
   */
  async finish(record: SpoolRecord): Promise<void> {
    const name = record.segment!;
    const line = [Buffer.from(`${record.id}\n`)];
    const segment = this.#segments.get(name);
    if (!segment) {
      const done = await this.#openDone(name);
      try {
        await done.append(line);
      } finally {
        await done.close();
      }
      return;
    }
    segment.done ??= this.#openDone(name);
    const done = await segment.done.catch((err: unknown) => {
      segment.done = undefined;
      throw err;
    });
    if (!done.usable) {
      // A failed round left its tail unknown: reopen, appending after what is there.
      if (segment.done !== undefined && (await segment.done) === done) {
        segment.done = this.#openDone(name);
        void done.close().catch(() => undefined);
      }
      return this.finish(record);
    }
    await done.append(line);
    segment.live.delete(record.id);
    this.#deleteIfSpent(segment);
    if (segment === this.#current && segment.live.size === 0) this.#retireWhenIdle(segment);
  }

  /**
   * A quiet server would keep delivered messages on disk until its segment fills up: the
   * current segment goes once nothing new has come for `idleMs` after its last message.
   */
  #retireWhenIdle(segment: Segment): void {
    this.#cancelIdleTimer?.();
    const { clock, idleMs } = this.#options;
    this.#cancelIdleTimer = clock.at(clock.now() + idleMs, () => {
      this.#cancelIdleTimer = undefined;
      if (segment === this.#current && segment.live.size === 0) this.#retire(segment);
    });
  }

  async #openDone(name: string): Promise<GroupCommitFile> {
    try {
      return GroupCommitFile.open(this.donePath(name), this.#options.groupCommit);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      const done = await GroupCommitFile.create(this.donePath(name), this.#options.groupCommit);
      await this.#options.syncDir();
      return done;
    }
  }

  #deleteIfSpent(segment: Segment): void {
    if (segment.writer || segment.live.size > 0 || segment.readers > 0 || segment.deleting) return;
    segment.deleting = true;
    this.#segments.delete(segment.name);
    this.#track(this.#delete(segment.name, segment.done));
  }

  /** Deletes a spent segment, then its done file. */
  async #delete(name: string, done?: Promise<GroupCommitFile>): Promise<void> {
    await done?.then(
      (file) => file.close(),
      () => undefined,
    );
    await unlink(this.segmentPath(name)).catch(ENOENT);
    // Durable before the done file goes: the other way round, a crash could bring the
    // segment back without its list, and every message in it would be sent again.
    await this.#options.syncDir();
    await unlink(this.donePath(name)).catch(ENOENT);
  }

  /** Deletes a segment found spent at start. */
  deleteSpent(name: string): Promise<void> {
    return this.#delete(name);
  }

  #track(work: Promise<void>): void {
    // A deletion that fails is retried by the next start, which finds the segment spent.
    const tracked = work.catch(() => undefined).finally(() => this.#deletions.delete(tracked));
    this.#deletions.add(tracked);
  }

  /** Closes the files; a spent segment is deleted, the current one too if it is spent. */
  async close(): Promise<void> {
    this.#cancelIdleTimer?.();
    this.#cancelIdleTimer = undefined;
    if (this.#current) this.#retire(this.#current);
    await this.#rotating?.catch(() => undefined);
    while (this.#deletions.size > 0) await Promise.all([...this.#deletions]);
    for (const segment of this.#segments.values())
      await segment.done?.then(
        (file) => file.close(),
        () => undefined,
      );
  }
}
