// An open mbox file on the append path. Its metadata calls and small writes run
// synchronously on the main thread: on a local filesystem each takes microseconds, where
// an async call costs a thread-pool round trip (CPU on both threads and two context
// switches). With one mailbox per message, the thirty-odd such trips of each message's
// appends were most of the daemon's CPU (bench/inbound, 100 mailboxes). What may wait on
// the disk stays asynchronous: fsync, writes large enough to wait on the page cache, and
// creating a file, which waits for the journal (about 0.4 ms under a fsync load, where
// opening an existing file, link, unlink or a small pwrite take 2 to 30 µs).
import fs from "node:fs";
import { promisify } from "node:util";

/** Writes up to this size are made synchronously. */
export const SYNC_WRITE_LIMIT = 64 * 1024;

const writeAsync = promisify(fs.write);
const writevAsync = promisify(fs.writev);
const fdatasyncAsync = promisify(fs.fdatasync);

/** Creates a file in the thread pool (it may wait for a journal commit); resolves with its descriptor. */
export const createFile: (file: string, flags: number, mode: number) => Promise<number> = promisify(fs.open);

export class AppendHandle {
  readonly fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens an existing file. */
  static open(file: string, flags: number): AppendHandle {
    return new AppendHandle(fs.openSync(file, flags));
  }

  /** Creates the file (`flags` should hold O_CREAT | O_EXCL). */
  static async create(file: string, flags: number, mode: number): Promise<AppendHandle> {
    return new AppendHandle(await createFile(file, flags, mode));
  }

  stat(): fs.Stats {
    return fs.fstatSync(this.fd);
  }

  read(buffer: Buffer, offset: number, length: number, position: number): number {
    return fs.readSync(this.fd, buffer, offset, length, position);
  }

  /** Writes at the end (the file is O_APPEND); resolves with the bytes written. */
  async write(data: Buffer, offset: number, length: number): Promise<number> {
    if (length <= SYNC_WRITE_LIMIT) return fs.writeSync(this.fd, data, offset, length);
    const { bytesWritten } = await writeAsync(this.fd, data, offset, length, null);
    return bytesWritten;
  }

  /** Writes `parts` at the end with one writev(2), without joining them first. */
  async writev(parts: Buffer[], length: number): Promise<number> {
    if (length <= SYNC_WRITE_LIMIT) return fs.writevSync(this.fd, parts);
    const { bytesWritten } = await writevAsync(this.fd, parts);
    return bytesWritten;
  }

  datasync(): Promise<void> {
    return fdatasyncAsync(this.fd);
  }

  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.fd);
  }
}
