// Crash markers: how a kill -9 in the middle of an append is undone.
//
// Each store instance keeps one marker file, <mailRoot>/.tmp/pending/<pid>-<instance>,
// made of 4 KiB slots (one page each, so writing a slot is never torn by a kill). Before
// taking an mbox's dotlock a batch claims a slot naming the file and its lock; once the
// lock is held it records the file's length before the append; it frees the slot only
// after the append is fsynced (or rolled back), before unlocking. A slot still claimed
// in a dead instance's file means "bytes after this length may be a partial batch": at
// the next start, recovery truncates the file back to it and removes the lock the dead
// process left (see recovery.ts). Three small pwrite(2)s per batch, no file creation.
import { promises as fs, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

export const PENDING_DIR = "pending";
export const SLOT_SIZE = 4096;
const CLAIMED = "S";
const FREE = "-";
const LENGTH_AT = "S length=".length;
const LENGTH_WIDTH = 20;
const UNKNOWN = "?".repeat(LENGTH_WIDTH);

/**
 * Store instances alive in this process. Process-wide on purpose: a second store on the
 * same mail root (a restart inside one process, tests) must not take a live batch's
 * marker for a crashed one, although both carry the same pid.
 */
const liveInstances = new Set<string>();

/** Whether a marker or temp file named by `instance` belongs to a store alive in this process. */
export function isLiveInstance(instance: string): boolean {
  return liveInstances.has(instance);
}

export class CrashMarkers {
  readonly dir: string;
  readonly instance = randomBytes(6).toString("hex");
  readonly path: string;
  #handle: Promise<fs.FileHandle> | undefined;
  #free: number[] = [];
  #slots = 0;

  constructor(tmpDir: string) {
    this.dir = path.join(tmpDir, PENDING_DIR);
    this.path = path.join(this.dir, `${process.pid}-${this.instance}`);
    liveInstances.add(this.instance);
  }

  /** Claims a slot for an append to `file` (length still unknown: taken before the lock). */
  async begin(file: string, lockPath: string): Promise<CrashMarker> {
    const record = `${CLAIMED} length=${UNKNOWN}\npid=${process.pid}\nlock=${lockPath}\nfile=${file}\n`;
    const bytes = Buffer.from(record, "utf8");
    if (bytes.length > SLOT_SIZE || /\n/.test(file + lockPath)) throw new Error(`mailbox path too long or not printable: ${file}`);
    this.#handle ??= fs.open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
    const handle = await this.#handle;
    const slot = this.#free.pop() ?? this.#slots++;
    const page = Buffer.alloc(SLOT_SIZE, 0x20);
    bytes.copy(page);
    try {
      await handle.write(page, 0, SLOT_SIZE, slot * SLOT_SIZE);
    } catch (error) {
      this.#free.push(slot);
      throw error;
    }
    return new CrashMarker(handle, slot, (n) => this.#free.push(n));
  }

  /** The store closed with nothing in flight: drop the marker file. */
  async retire(): Promise<void> {
    liveInstances.delete(this.instance);
    if (!this.#handle) return;
    const handle = await this.#handle.catch(() => undefined);
    await handle?.close();
    if (this.#free.length === this.#slots) await fs.unlink(this.path).catch(() => {});
  }
}

export class CrashMarker {
  readonly #handle: fs.FileHandle;
  readonly #slot: number;
  readonly #release: (slot: number) => void;

  constructor(handle: fs.FileHandle, slot: number, release: (slot: number) => void) {
    this.#handle = handle;
    this.#slot = slot;
    this.#release = release;
  }

  /** Records the length before the append (lock held), in place. */
  async setLength(length: number): Promise<void> {
    await this.#handle.write(String(length).padStart(LENGTH_WIDTH, "0"), this.#slot * SLOT_SIZE + LENGTH_AT);
  }

  /** The append is durable or undone: free the slot. */
  async remove(): Promise<void> {
    await this.#handle.write(FREE, this.#slot * SLOT_SIZE);
    this.#release(this.#slot);
  }

  /** The file could not be restored: leave the slot claimed so recovery retries at the next start. */
  abandon(): void {}
}

export interface MarkerContent {
  readonly pid: number;
  /** Length before the append, or undefined if the lock was not yet taken. */
  readonly length: number | undefined;
  readonly lock: string;
  readonly file: string;
}

/** The claimed slots of a marker file (free and unreadable slots are skipped). */
export function parseMarkers(data: Buffer): MarkerContent[] {
  const claimed: MarkerContent[] = [];
  for (let offset = 0; offset + SLOT_SIZE <= data.length; offset += SLOT_SIZE) {
    if (data[offset] !== CLAIMED.charCodeAt(0)) continue;
    const text = data.subarray(offset, offset + SLOT_SIZE).toString("utf8");
    const match = /^S length=(\?{20}|\d{20})\npid=(\d+)\nlock=([^\n]*)\nfile=([^\n]*)\n */.exec(text);
    if (!match) continue;
    const length = match[1]!.startsWith("?") ? undefined : Number(match[1]);
    claimed.push({ pid: Number(match[2]), length, lock: match[3]!, file: match[4]! });
  }
  return claimed;
}
