// While the final copy runs and the handover is written, the source's mbox files are held
// under their dotlocks: the locks the store and Dovecot (mbox_write_locks = fcntl dotlock)
// honour, taken by the backups' lock taker. An IMAP flag change, expunge or APPEND into Sent
// on this host then waits for the handover instead of landing after the copy and being lost.
// Dovecot's reads wait too: the hold lasts seconds, inside its lock timeout.
import path from "node:path";
import { mboxFiles } from "../backup/mailbox-files.ts";
import { LockTimeoutError, withMailboxLocks } from "../backup/mailbox-locks.ts";
import { MoveError } from "./move-error.ts";

/**
 * Runs `work` holding the dotlock of every mbox file of `owner`'s root here (INBOX and mail/),
 * waiting at most `timeoutMs` for a lock a reader holds; released when `work` ends, however.
 */
export async function withSourceHeld<T>(
  root: string,
  owner: string,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const files = (await mboxFiles(root)).map((file) => path.join(root, file));
  try {
    return await withMailboxLocks(files, timeoutMs, work);
  } catch (error) {
    if (!(error instanceof LockTimeoutError)) throw error;
    throw new MoveError(
      `cannot hold ${owner}'s mail here for the final copy within ${timeoutMs} ms (setting inbound.lockTimeout): ${error.message}`,
    );
  }
}
