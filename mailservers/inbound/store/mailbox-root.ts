// One owner's mailbox root, <mail-root>/<owner>/: made by provisioning (mailbox-fs.sh on
// the VM mounts the owner's filesystem there; the local applier and the benchmarks make a
// plain directory), checked by the store before every delivery, never created by it.
import { promises as fs, lstatSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { ownerProblem } from "../../../config/users-list.ts";
import { syncDirectory } from "../../../lib/durable-file.ts";
import { InvalidOwnerError, MailboxNotProvisionedError, UnsafeMailboxRootError } from "./errors.ts";
import type { MailRoot } from "./mail-root.ts";

/** Written into a mailbox root by provisioning; it survives a reader deleting an empty INBOX. */
export const PROVISIONED_MARKER = ".semail-mailbox";

/**
 * Provisions a mailbox root as a plain directory, the way mailbox-fs.sh populates a
 * mounted filesystem: INBOX, mail/ and the marker. For local mode without root, the
 * daemon's own postmaster mailbox and the benchmarks; never for a listed owner on the VM.
 */
export async function provisionPlainRoot(mailRoot: string, owner: string): Promise<void> {
  const root = path.join(mailRoot, owner);
  await fs.mkdir(path.join(root, "mail"), { recursive: true, mode: 0o700 });
  for (const file of ["INBOX", PROVISIONED_MARKER]) await fs.writeFile(path.join(root, file), "", { flag: "a", mode: 0o600 });
}

/** <mailRoot>/<owner>; the users list validated the owner, and a path that leaves the mail root is refused anyway. */
export function mailboxRoot(mailRoot: MailRoot, owner: string): string {
  const root = path.join(mailRoot.path, owner);
  if (ownerProblem(owner) !== undefined || path.dirname(root) !== mailRoot.path) throw new InvalidOwnerError(owner);
  return root;
}

/**
 * Provisioning makes the root and puts an INBOX and PROVISIONED_MARKER in it. A root with
 * neither is not ready: not made yet, or the empty mount point of a filesystem that is not
 * mounted, where mail would land on the host's own disk. Checked for every message, with
 * synchronous calls (see append-handle.ts).
 */
export function provisioningState(root: string): "missing" | "unsafe" | "ready" {
  const rootStat = lstatSync(root, { throwIfNoEntry: false });
  if (!rootStat) return "missing";
  if (!rootStat.isDirectory()) return "unsafe";
  for (const name of [PROVISIONED_MARKER, "INBOX"]) if (lstatSync(path.join(root, name), { throwIfNoEntry: false })) return "ready";
  return "missing";
}

/**
 * Checks <root>/ and creates <root>/mail/ if missing. A root that is not provisioned
 * (MailboxNotProvisionedError) or not a real directory (UnsafeMailboxRootError) is
 * refused; a `mail` that is not a directory only loses the folder copy (returns false).
 */
export async function prepareMailboxRoot(root: string, mailRoot: MailRoot, logger: Logger): Promise<boolean> {
  const state = provisioningState(root);
  if (state === "missing") throw new MailboxNotProvisionedError(root);
  if (state === "unsafe") throw new UnsafeMailboxRootError(root);
  const directory = path.join(root, "mail");
  let stat = lstatSync(directory, { throwIfNoEntry: false });
  if (!stat) {
    await fs.mkdir(directory, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    mailRoot.giveDirectoryToOwner(directory, root);
    await syncDirectory(root);
    stat = lstatSync(directory);
  }
  if (!stat.isDirectory()) {
    logger.error({ directory }, "mailbox directory is a symlink or not a directory");
    return false;
  }
  return true;
}
