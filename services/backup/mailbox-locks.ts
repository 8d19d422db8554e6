// The mbox dotlocks, taken from outside the store the way mutt and liblockfile take them: a
// file holding our pid, link(2)ed to `<file>.lock`. The store honours them: a delivery to a
// locked file waits (up to inbound.lockTimeout, then a 4xx the sender retries), other
// mailboxes go on. Locks are taken in sorted path order, the store's own global order, so
// neither side can deadlock; they are touched while held, because a lock older than five
// minutes is broken as stale (by the store and by liblockfile); and they are always released
// when the work under them ends, whatever happens.
import { linkSync, lstatSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";

/** How often a held lock's mtime is refreshed: well inside the five minutes after which it looks stale. */
const TOUCH_EVERY_MS = 30_000;

let unique = 0;

export class LockTimeoutError extends Error {
  override readonly name = "LockTimeoutError";
}

/** Runs `work` holding the dotlocks of every file in `files`; gives up after `timeoutMs` waiting for one. */
export async function withMailboxLocks<T>(
  files: readonly string[],
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const held: string[] = [];
  const touch = setInterval(() => {
    const now = new Date();
    for (const lock of held) ignore(() => utimesSync(lock, now, now));
  }, TOUCH_EVERY_MS);
  try {
    const deadline = Date.now() + timeoutMs;
    for (const file of [...new Set(files)].sort()) held.push(await acquire(file, deadline));
    return await work();
  } finally {
    clearInterval(touch);
    for (const lock of held.reverse()) ignore(() => unlinkSync(lock));
  }
}

async function acquire(file: string, deadline: number): Promise<string> {
  const lock = `${file}.lock`;
  // Hidden, and named unlike the store's own link files, which its recovery removes.
  const temp = path.join(path.dirname(file), `.${path.basename(lock)}.semail-backup.${process.pid}.${++unique}`);
  writeFileSync(temp, `${process.pid}\n`, { flag: "wx", mode: 0o644 });
  try {
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        linkSync(temp, lock);
        return lock;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      if (Date.now() >= deadline)
        throw new LockTimeoutError(`${lock} is held by someone else (${holder(lock)}); try again later`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } finally {
    ignore(() => unlinkSync(temp));
  }
}

function holder(lock: string): string {
  const stat = lstatSync(lock, { throwIfNoEntry: false });
  return stat ? `taken ${Math.round((Date.now() - stat.mtimeMs) / 1000)} s ago` : "released just now";
}

function ignore(call: () => unknown): void {
  try {
    call();
  } catch {
    // A lock we no longer hold, or one already gone: nothing to do.
  }
}
