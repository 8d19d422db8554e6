// The dotlock Debian's mail tools share (Debian policy 11.6, liblockfile, mutt, Python's
// mailbox): `<file>.lock`, made atomically by link(2) from a file that is already whole.
// That file is the mailbox root's provisioning marker when it is an empty file (it lives as
// long as the mailbox): a lock is then one link and one unlink, where a file of our own to
// link (holding our pid) costs creating and freeing an inode for every lock, which under
// load was the largest single cost of an append (ext4 scans its recently freed inodes on
// every create). Like the other metadata calls of an append these are synchronous (see
// append-handle.ts), except creating a file to link, which may wait for a journal commit,
// and the wait for someone else's lock.
import fs, { constants, type BigIntStats } from "node:fs";
import path from "node:path";
import { createFile } from "./append-handle.ts";
import { MailboxLockedError } from "../errors.ts";

/** A lock older than this is stale and removed (liblockfile and lockfile(1) use 5 minutes). */
export const STALE_LOCK_MS = 5 * 60 * 1000;

let unique = 0;

export interface DotlockOptions {
  /** Give up after this long: MailboxLockedError. */
  readonly timeoutMs: number;
  /** Names our files linked to the lock (`lockTempPrefix`): the store instance. */
  readonly tag: string;
  /** A lock older than this is stale (default STALE_LOCK_MS; tests set less). */
  readonly staleMs?: number;
  /**
   * Called before a stale lock is broken. The store recovers its dead writers here: if the
   * lock is one of theirs, its partial tail is cut while the lock still keeps everyone
   * else off, and the lock removed; breaking it blindly would let the next append follow
   * the partial message.
   */
  readonly beforeBreak?: (lockPath: string) => void;
  /** Called when a stale lock is removed. */
  readonly onStale?: (lockPath: string, ageMs: number) => void;
  /**
   * Called with the identity the lock will have, before the first link(2): the crash
   * marker records it, so recovery knows this very file as ours (a pid alone may be another's).
   */
  readonly beforeLink?: (identity: LockIdentity) => void;
  /**
   * An existing empty regular file on the mailbox's filesystem to link as the lock: the
   * mailbox root's provisioning marker. Missing, not an empty plain file, or refused by
   * link(2): the lock is linked from a file of our own holding our pid.
   */
  readonly linkSource?: string;
}

/**
 * Which file a lock is: its inode, and its modification time in ns, because a freed inode
 * number is handed out again at once. The mtime is set when our pid is written and link(2)
 * and unlink(2) leave it alone (the ctime changes; a birth time is not always available).
 * A lock linked from the provisioning marker shares the marker's inode, which is not freed
 * while the marker exists, and its mtime, which the next lock in that mailbox moves on:
 * recovery knows it by its inode, its other link and its emptiness (recovery.ts `holds`).
 */
export interface LockIdentity {
  readonly inode: bigint;
  readonly mtime: bigint;
}

export function lockIdentity(stat: BigIntStats): LockIdentity {
  return { inode: stat.ino, mtime: stat.mtimeNs };
}

/**
 * Start of the unique files the store instance `tag` links to `<file>.lock`: hidden (a
 * leading dot, so Dovecot and mutt never list one as a folder), next to the lock (link(2)
 * needs the same filesystem). Recovery removes a dead writer's (writer-identity.ts `lockTag`).
 */
export function lockTempPrefix(lockPath: string, tag: string): string {
  return path.join(path.dirname(lockPath), `.${path.basename(lockPath)}.${tag}.`);
}

/**
 * Takes `<file>.lock`; resolves with the lock path. Throws MailboxLockedError after the timeout.
 * The lock is born complete: an existing file is link(2)ed to the lock name (the
 * liblockfile and Python way), so a crash never leaves a half-made lock that nobody could
 * tell from a reader's. Its identity is recorded (`beforeLink`) before the link.
 */
export async function acquireDotlock(file: string, options: DotlockOptions): Promise<string> {
  const lockPath = `${file}.lock`;
  const deadline = Date.now() + options.timeoutMs;
  const shared = options.linkSource === undefined ? undefined : freshIdentity(options.linkSource);
  if (shared) {
    options.beforeLink?.(shared);
    try {
      await linkWhenFree(options.linkSource!, lockPath, file, options, deadline);
      return lockPath;
    } catch (error) {
      if (error instanceof MailboxLockedError || !SHARED_SOURCE_ERRORS.has((error as NodeJS.ErrnoException).code ?? ""))
        throw error;
      // The marker went away, or this filesystem refuses the link: a file of our own.
    }
  }
  const temp = `${lockTempPrefix(lockPath, options.tag)}${++unique}`;
  const fd = await createFile(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    try {
      fs.writeSync(fd, `${process.pid}\n`);
      options.beforeLink?.(lockIdentity(fs.fstatSync(fd, { bigint: true })));
    } finally {
      fs.closeSync(fd);
    }
    await linkWhenFree(temp, lockPath, file, options, deadline);
    return lockPath;
  } finally {
    ignoreErrors(() => fs.unlinkSync(temp));
  }
}

/** link(2) errors after which a lock is linked from a file of our own instead of the shared source. */
const SHARED_SOURCE_ERRORS = new Set(["ENOENT", "EXDEV", "EMLINK", "EPERM", "EACCES"]);

/**
 * The shared source's identity with its mtime set to now, or undefined if it is not an
 * empty regular file (recovery knows a lock linked from it by that, recovery.ts `holds`).
 * A fresh mtime keeps the lock from looking stale to readers that judge a lock by its age
 * (liblockfile; ours); lutimes, because a user may swap it for a symlink.
 */
function freshIdentity(source: string): LockIdentity | undefined {
  try {
    const now = new Date();
    fs.lutimesSync(source, now, now);
    const stat = fs.lstatSync(source, { bigint: true });
    return stat.isFile() && stat.size === 0n ? lockIdentity(stat) : undefined;
  } catch {
    return undefined;
  }
}

/** Links `source` as the lock once nobody holds it; throws MailboxLockedError at `deadline`, or link(2)'s other errors. */
async function linkWhenFree(
  source: string,
  lockPath: string,
  file: string,
  options: DotlockOptions,
  deadline: number,
): Promise<void> {
  let delay = 2;
  for (;;) {
    try {
      fs.linkSync(source, lockPath);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    removeIfStale(lockPath, options);
    if (Date.now() >= deadline) throw new MailboxLockedError(file, options.timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 100);
  }
}

/** Removes the lock we hold. */
export function releaseDotlock(lockPath: string): void {
  try {
    fs.unlinkSync(lockPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function ignoreErrors(call: () => unknown): void {
  try {
    call();
  } catch {
    // Best effort: what is left is removed by recovery.
  }
}

/** Age of the lock if it is stale, else undefined (also when there is none). */
function staleAge(lockPath: string, staleMs: number): { age: number; stat: fs.Stats } | undefined {
  let stat;
  try {
    stat = fs.lstatSync(lockPath);
  } catch {
    return undefined;
  }
  const age = Date.now() - stat.mtimeMs;
  return age >= staleMs ? { age, stat } : undefined;
}

/**
 * Removes a lock left by a program that died (older than 5 minutes). A pid in the lock
 * is not trusted on its own: a user's reader may run in another pid namespace (their
 * container) where its live pid looks dead from here. Our own crashed deliveries are
 * recovered sooner, from the crash markers (see recovery.ts), and again here first.
 */
function removeIfStale(lockPath: string, options: DotlockOptions): void {
  const staleMs = options.staleMs ?? STALE_LOCK_MS;
  if (!staleAge(lockPath, staleMs)) return;
  options.beforeBreak?.(lockPath);
  // Looked at again: recovery may have removed it, or someone taken a fresh one.
  const stale = staleAge(lockPath, staleMs);
  if (!stale) return;
  const { age, stat } = stale;
  // Rename first so two breakers cannot remove a fresh lock taken in between. The name
  // aside is hidden and starts like our link files, so recovery removes it after a crash.
  const aside = `${lockTempPrefix(lockPath, options.tag)}stale${++unique}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch {
    return;
  }
  const moved = fs.lstatSync(aside, { throwIfNoEntry: false });
  if (moved && moved.ino !== stat.ino) {
    // Someone took a fresh lock between our lstat and rename: put it back if we can.
    ignoreErrors(() => fs.linkSync(aside, lockPath));
  } else options.onStale?.(lockPath, age);
  ignoreErrors(() => fs.unlinkSync(aside));
}
