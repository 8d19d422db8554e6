// An append-only file whose appends are made durable in groups (group commit): appends
// that arrive while a write and its fdatasync are under way wait for the next round, and
// then share one writev(2) and one fdatasync(2). An append resolves only once the round
// that carries it is synced. Small rounds are written synchronously (microseconds into the
// page cache, where an async call costs a thread-pool round trip); the fdatasync is not.
import fs from "node:fs";
import { promisify } from "node:util";

const writevAsync = promisify(fs.writev);
const fdatasyncAsync = promisify(fs.fdatasync);
const openAsync = promisify(fs.open);

/** Rounds up to this size are written synchronously. */
const SYNC_WRITE_LIMIT = 64 * 1024;
/** Most bytes written in one round; the rest waits for the next. */
const ROUND_BYTES = 8 * 1024 * 1024;

export interface GroupCommitOptions {
  /** Replaces fdatasync(2) (tests count or hold the syncs). */
  readonly datasync?: (fd: number) => Promise<void>;
}

interface Pending {
  readonly parts: readonly Buffer[];
  readonly length: number;
  readonly offset: number;
  resolve(offset: number): void;
  reject(error: unknown): void;
}

export class GroupCommitFile {
  readonly path: string;
  readonly #fd: number;
  readonly #datasync: (fd: number) => Promise<void>;
  /** Where the next append goes: every queued append has its place already. */
  #end: number;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  /** Set by a failed round: the file's tail is unknown, so nothing more is appended. */
  #broken: Error | undefined;
  #closed = false;

  private constructor(path: string, fd: number, end: number, options: GroupCommitOptions) {
    this.path = path;
    this.#fd = fd;
    this.#end = end;
    this.#datasync = options.datasync ?? fdatasyncAsync;
  }

  /** Creates the file; it fails if it exists. Its directory entry is the caller's to sync. */
  static async create(path: string, options: GroupCommitOptions = {}): Promise<GroupCommitFile> {
    // In the thread pool: creating a file may wait for a journal commit.
    const fd = await openAsync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    return new GroupCommitFile(path, fd, 0, options);
  }

  /** Opens an existing file to append to it. */
  static open(path: string, options: GroupCommitOptions = {}): GroupCommitFile {
    const fd = fs.openSync(path, fs.constants.O_WRONLY);
    return new GroupCommitFile(path, fd, fs.fstatSync(fd).size, options);
  }

  /** Bytes in the file once every queued append is written. */
  get size(): number {
    return this.#end;
  }

  /** False once a round failed or the file was closed. */
  get usable(): boolean {
    return this.#broken === undefined && !this.#closed;
  }

  /** Appends `parts`; resolves with the offset of their first byte once they are synced. */
  append(parts: readonly Buffer[]): Promise<number> {
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    let length = 0;
    for (const part of parts) length += part.length;
    const offset = this.#end;
    this.#end += length;
    return new Promise((resolve, reject) => {
      this.#queue.push({ parts, length, offset, resolve, reject });
      // One turn of the event loop first, so appends made together share the round.
      this.#draining ??= new Promise<void>((started) => setImmediate(started)).then(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#broken) {
      let bytes = 0;
      let count = 0;
      while (count < this.#queue.length && (count === 0 || bytes + this.#queue[count]!.length <= ROUND_BYTES))
        bytes += this.#queue[count++]!.length;
      const round = this.#queue.splice(0, count);
      const start = round[0]!.offset;
      try {
        await this.#write(
          round.flatMap((p) => p.parts),
          start,
          bytes,
        );
        await this.#datasync(this.#fd);
      } catch (err) {
        // What reached the file is unknown: cut it off, and stop appending to this file.
        this.#broken = err instanceof Error ? err : new Error(String(err));
        try {
          fs.ftruncateSync(this.#fd, start);
        } catch {
          // The records' checksums still tell the torn tail at the next start.
        }
        for (const p of round) p.reject(err);
        break;
      }
      for (const p of round) p.resolve(p.offset);
    }
    for (const p of this.#queue.splice(0)) p.reject(this.#broken);
    this.#draining = undefined;
  }

  async #write(parts: Buffer[], position: number, length: number): Promise<void> {
    const written =
      length <= SYNC_WRITE_LIMIT
        ? fs.writevSync(this.#fd, parts, position)
        : await writevAsync(this.#fd, parts, position).then((r) => r.bytesWritten);
    if (written !== length) {
      const error: NodeJS.ErrnoException = new Error(`short write to ${this.path}: ${written} of ${length} bytes`);
      error.code = "ENOSPC";
      throw error;
    }
  }

  /** Waits for the appends under way, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#draining;
    fs.closeSync(this.#fd);
  }
}
