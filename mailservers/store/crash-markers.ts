// Crash markers: how a kill -9 in the middle of an append is undone. Before appending to
// an mbox we hold its dotlock and write a marker in <mailRoot>/.tmp/pending/ naming the
// file and its length before the append; the marker is removed only after the append is
// fsynced (or rolled back) and before the lock is released. A marker left behind means
// "the bytes after this length may be a partial batch": at the next start, recovery
// truncates the file back to it and removes the lock we left (see recovery.ts).
import { promises as fs, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";

export const PENDING_DIR = "pending";
const LENGTH_AT = "length=".length;
const LENGTH_WIDTH = 20;
const UNKNOWN = "-".repeat(LENGTH_WIDTH);

/** One store instance's markers: `<pid>-<instance>-<seq>`, unique per batch. */
export class CrashMarkers {
  readonly dir: string;
  readonly instance = randomBytes(6).toString("hex");
  #seq = 0;

  constructor(tmpDir: string) {
    this.dir = path.join(tmpDir, PENDING_DIR);
  }

  /** Writes a marker for `file` with the length still unknown (taken before the lock). */
  async begin(file: string, lockPath: string): Promise<CrashMarker> {
    const markerPath = path.join(this.dir, `${process.pid}-${this.instance}-${++this.#seq}`);
    const handle = await fs.open(markerPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.write(`length=${UNKNOWN}\npid=${process.pid}\nlock=${lockPath}\nfile=${file}\n`, 0);
    } catch (error) {
      await handle.close();
      await fs.unlink(markerPath).catch(() => {});
      throw error;
    }
    return new CrashMarker(markerPath, handle);
  }
}

export class CrashMarker {
  readonly path: string;
  readonly #handle: fs.FileHandle;
  constructor(markerPath: string, handle: fs.FileHandle) {
    this.path = markerPath;
    this.#handle = handle;
  }
  /** Records the committed length, in place: one small write inside the first page. */
  async setLength(length: number): Promise<void> {
    await this.#handle.write(String(length).padStart(LENGTH_WIDTH, "0"), LENGTH_AT);
  }
  /** The append is durable or undone: forget it. */
  async remove(): Promise<void> {
    await this.#handle.close().catch(() => {});
    await fs.unlink(this.path);
  }
  /** Keep the marker on disk (the file could not be restored); recovery will retry. */
  async abandon(): Promise<void> {
    await this.#handle.close().catch(() => {});
  }
}

export interface MarkerContent {
  readonly pid: number;
  /** Length before the append, or undefined if the lock was not yet taken. */
  readonly length: number | undefined;
  readonly lock: string;
  readonly file: string;
}

/** Parses a marker; undefined if it is not one of ours or was cut short. */
export function parseMarker(text: string): MarkerContent | undefined {
  const match = /^length=(-{20}|\d{20})\npid=(\d+)\nlock=(.*)\nfile=(.*)\n$/s.exec(text);
  if (!match) return undefined;
  const length = match[1]!.startsWith("-") ? undefined : Number(match[1]);
  return { pid: Number(match[2]), length, lock: match[3]!, file: match[4]! };
}
