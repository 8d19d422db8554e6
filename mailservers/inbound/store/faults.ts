// Test-only fault injection for the mbox store, so the rollback and crash-recovery
// paths are exercised rather than assumed. Production passes nothing; every hook is
// checked with one `faults?.` test, off the hot path when unset.

/** Where a crash can be simulated (see `FaultInjector.crashAt`). */
export type CrashPoint =
  /** Lock just taken, its length not yet recorded. */
  | "lock-taken"
  /** Lock taken and crash marker written, nothing appended yet. */
  | "locked"
  /** Part of a batch written to the mbox, not yet fsynced. */
  | "mid-write"
  /** Whole batch written, before fsync. */
  | "before-fsync"
  /** Batch fsynced, marker not yet removed. */
  | "after-fsync"
  /** File final (kept or rolled back), marker done, lock still held. */
  | "before-unlock"
  /** Lock removed, marker slot not yet freed. */
  | "unlocked";

export interface FaultInjector {
  /**
   * Called before each write(2) to an mbox file. `attempt` counts the writes to that
   * file in this store, from 0. A returned error is thrown as if write(2) had failed
   * with it (build it with `faultError("EIO")` or `faultError("ENOSPC")`).
   */
  beforeWrite?(file: string, attempt: number): Error | undefined;
  /**
   * Called before each write(2); a number smaller than `length` makes the store write only
   * that many bytes and then see a short write (as on a full disk).
   */
  shortWrite?(file: string, attempt: number, length: number): number | undefined;
  /** Called before each fsync of an mbox file; a returned error is thrown as if fsync failed. */
  beforeFsync?(file: string): Error | undefined;
  /** Called at each crash point; a crash test kills the process here (SIGKILL). */
  crashAt?(point: CrashPoint, file: string): void;
}

/** An Error shaped like the one node:fs throws for errno `code`. */
export function faultError(code: "EIO" | "ENOSPC" | "EDQUOT" | "EROFS", file = ""): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected fault, write '${file}'`);
  error.code = code;
  error.syscall = "write";
  return error;
}
