// Crash markers: how a kill -9 in the middle of an append is undone.
//
// Each store instance keeps one marker file, <mailRoot>/.tmp/pending/<writer> (a name that
// tells for certain whether its writer still runs, see writer-identity.ts), made of 4 KiB slots
// (one page each, so writing a slot is never torn by a kill). A slot is claimed before
// anything of the batch touches the disk, and is the only record of what the batch may
// have left behind, so each step is recorded before it is taken:
//
//   claim (file, lock) -> identity of our lock-to-be -> link(2) it to <file>.lock
//   -> length before the append -> append, fsync (or roll back)
//   -> "done" (the file is final) -> unlink the lock -> free the slot.
//
// A claimed slot in a dead instance's file tells recovery (recovery.ts) which lock the
// dead process held (inode and mtime: a lock is ours only if it is that very file,
// whatever pid it names) and, unless the slot is done, that bytes after the length may
// be a partial batch. Freeing the slot last means no kill can leave a lock of ours that
// no slot names (before, the slot was freed first and a kill just then left the lock).
// Five small pwrite(2)s per batch, no file creation; made synchronously, like the other
// metadata calls of an append (see append-handle.ts).
import { promises as fs, closeSync, constants, openSync, writeSync } from "node:fs";
import path from "node:path";
import type { LockIdentity } from "./dotlock.ts";
import { newWriter, retireWriter } from "./writer-identity.ts";

export const PENDING_DIR = "pending";
export const SLOT_SIZE = 4096;
/** Slot states (the slot's first byte): an append may be in flight; the file is final, the lock may remain; free. */
const CLAIMED = "S";
const DONE = "D";
const FREE = "-";
const NUMBER_WIDTH = 20;
const LENGTH_AT = "S length=".length;
const INODE_AT = LENGTH_AT + NUMBER_WIDTH + " inode=".length;
const UNKNOWN = "?".repeat(NUMBER_WIDTH);

export class CrashMarkers {
  readonly dir: string;
  /** This store's name as a writer (writer-identity.ts): names its marker file and temp bodies. */
  readonly writer: string;
  /** Names its lock files (dotlock.ts). */
  readonly instance: string;
  readonly path: string;
  #fd: number | undefined;
  #free: number[] = [];
  #slots = 0;

  constructor(tmpDir: string) {
    this.dir = path.join(tmpDir, PENDING_DIR);
    ({ name: this.writer, instance: this.instance } = newWriter());
    this.path = path.join(this.dir, this.writer);
  }

  /** Claims a slot for an append to `file` (lock and length still unknown: taken before the lock). */
  begin(file: string, lockPath: string): CrashMarker {
    const record = `${CLAIMED} length=${UNKNOWN} inode=${UNKNOWN} mtime=${UNKNOWN}\npid=${process.pid}\nlock=${lockPath}\nfile=${file}\n`;
    const bytes = Buffer.from(record, "utf8");
    if (bytes.length > SLOT_SIZE || /\n/.test(file + lockPath))
      throw new Error(`mailbox path too long or not printable: ${file}`);
    this.#fd ??= openSync(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
    const fd = this.#fd;
    const slot = this.#free.pop() ?? this.#slots++;
    const page = Buffer.alloc(SLOT_SIZE, 0x20);
    bytes.copy(page);
    try {
      writeSync(fd, page, 0, SLOT_SIZE, slot * SLOT_SIZE);
    } catch (error) {
      this.#free.push(slot);
      throw error;
    }
    return new CrashMarker(fd, slot, (n) => this.#free.push(n));
  }

  /** The store closed with nothing in flight: drop the marker file. */
  async retire(): Promise<void> {
    retireWriter(this.instance);
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#free.length === this.#slots) await fs.unlink(this.path).catch(() => {});
  }
}

export class CrashMarker {
  readonly #fd: number;
  readonly #slot: number;
  readonly #release: (slot: number) => void;

  constructor(fd: number, slot: number, release: (slot: number) => void) {
    this.#fd = fd;
    this.#slot = slot;
    this.#release = release;
  }

  /** Records which file is about to be linked as the lock, before the link(2). One write: never half recorded. */
  setLock(identity: LockIdentity): void {
    const pad = (n: bigint) => String(n).padStart(NUMBER_WIDTH, "0");
    this.#write(`${pad(identity.inode)} mtime=${pad(identity.mtime)}`, INODE_AT);
  }

  /** Records the length before the append (lock held), in place. */
  setLength(length: number): void {
    this.#write(String(length).padStart(NUMBER_WIDTH, "0"), LENGTH_AT);
  }

  /** The file is final (append durable or undone); only the lock is left to remove. */
  done(): void {
    this.#write(DONE, 0);
  }

  /** The lock is gone too: free the slot. */
  remove(): void {
    this.#write(FREE, 0);
    this.#release(this.#slot);
  }

  /** The file could not be restored: leave the slot claimed so recovery retries at the next start. */
  abandon(): void {}

  #write(text: string, at: number): void {
    const bytes = Buffer.from(text, "latin1");
    const bytesWritten = writeSync(this.#fd, bytes, 0, bytes.length, this.#slot * SLOT_SIZE + at);
    if (bytesWritten !== bytes.length)
      throw new Error(`short write to a crash marker: ${bytesWritten} of ${bytes.length} bytes`);
  }
}

export interface MarkerContent {
  readonly pid: number;
  /** The file is final: nothing to cut back, only the lock may remain. */
  readonly done: boolean;
  /** Length before the append, or undefined if the lock was not yet taken. */
  readonly length: number | undefined;
  /** The lock file's identity, or undefined if the lock was not yet being linked. */
  readonly lockIdentity: LockIdentity | undefined;
  readonly lock: string;
  readonly file: string;
}

/** The claimed slots of a marker file (free and unreadable slots are skipped). */
export function parseMarkers(data: Buffer): MarkerContent[] {
  const claimed: MarkerContent[] = [];
  for (let offset = 0; offset + SLOT_SIZE <= data.length; offset += SLOT_SIZE) {
    const state = String.fromCharCode(data[offset]!);
    if (state !== CLAIMED && state !== DONE) continue;
    const text = data.subarray(offset, offset + SLOT_SIZE).toString("utf8");
    const match =
      /^[SD] length=(\?{20}|\d{20}) inode=(\?{20}|\d{20}) mtime=(\?{20}|\d{20})\npid=(\d+)\nlock=([^\n]*)\nfile=([^\n]*)\n */.exec(
        text,
      );
    if (!match) continue;
    const length = match[1]!.startsWith("?") ? undefined : Number(match[1]);
    const lockIdentity =
      match[2]!.startsWith("?") || match[3]!.startsWith("?")
        ? undefined
        : { inode: BigInt(match[2]!), mtime: BigInt(match[3]!) };
    claimed.push({
      pid: Number(match[4]),
      done: state === DONE,
      length,
      lockIdentity,
      lock: match[5]!,
      file: match[6]!,
    });
  }
  return claimed;
}
