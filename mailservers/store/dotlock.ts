// The dotlock Debian's mail tools share (Debian policy 11.6, liblockfile, mutt, Python's
// mailbox): `<file>.lock`, created atomically, holding our pid.
import { promises as fs, constants } from "node:fs";
import { tempFail } from "../core/types.ts";

/** A lock older than this is stale and removed (liblockfile and lockfile(1) use 5 minutes). */
export const STALE_LOCK_MS = 5 * 60 * 1000;

let unique = 0;

export interface DotlockOptions {
  /** Give up after this long: 451 4.2.0. */
  readonly timeoutMs: number;
  /** Called when a stale lock is removed. */
  readonly onStale?: (lockPath: string, ageMs: number) => void;
}

/**
 * Takes `<file>.lock`; resolves with the lock path. Throws 451 4.2.0 after the timeout.
 * O_EXCL is atomic on local filesystems (the link(2) dance is for old NFS) and costs no
 * extra file; the pid follows in the same breath.
 */
export async function acquireDotlock(file: string, options: DotlockOptions): Promise<string> {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + options.timeoutMs;
  let delay = 2;
  for (;;) {
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    if (handle) {
      try {
        await handle.write(`${process.pid}\n`);
      } catch (error) {
        await handle.close().catch(() => {});
        await fs.unlink(lockPath).catch(() => {});
        throw error;
      }
      await handle.close();
      return lockPath;
    }
    await removeIfStale(lockPath, options);
    if (Date.now() >= deadline) {
      throw tempFail(451, "4.2.0", "Mailbox is locked by another program, try again later");
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
  }
}

/** Removes the lock we hold. */
export async function releaseDotlock(lockPath: string): Promise<void> {
  await fs.unlink(lockPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/**
 * Removes a lock left by a program that died (older than 5 minutes). A pid in the lock
 * is not trusted on its own: a user's reader may run in another pid namespace (their
 * container) where its live pid looks dead from here. Our own crashed deliveries are
 * recovered sooner, from the crash markers (see recovery.ts).
 */
async function removeIfStale(lockPath: string, options: DotlockOptions): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(lockPath);
  } catch {
    return;
  }
  const age = Date.now() - stat.mtimeMs;
  if (age < STALE_LOCK_MS) return;
  // Rename first so two breakers cannot remove a fresh lock taken in between.
  const aside = `${lockPath}.stale.${process.pid}.${++unique}`;
  try {
    await fs.rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await fs.lstat(aside).catch(() => undefined);
  if (moved && moved.ino !== stat.ino) {
    // Someone took a fresh lock between our lstat and rename: put it back if we can.
    await fs.link(aside, lockPath).catch(() => {});
  } else options.onStale?.(lockPath, age);
  await fs.unlink(aside).catch(() => {});
}
