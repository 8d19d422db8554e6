// One owner's mailbox root, <mail-root>/<owner>/, as the store sees it before a delivery:
// made by provisioning (its layout: config/mailbox-layout.ts), checked by the store before
// every delivery, never created by it; the store only adds mail/ when it is missing.
import { promises as fs, lstatSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { FOLDERS_DIRECTORY, provisioningState } from "../../../../config/mailbox-layout.ts";
import { ownerProblem } from "../../../../config/users-list.ts";
import { syncDirectory } from "../../../../lib/durable-file.ts";
import { InvalidOwnerError, MailboxNotProvisionedError, UnsafeMailboxRootError } from "../errors.ts";
import type { UserOwnedTree } from "./user-owned-tree.ts";

/** <mailRoot>/<owner>; the users list validated the owner, and a path that leaves the mail root is refused anyway. */
export function mailboxRoot(tree: UserOwnedTree, owner: string): string {
  const root = path.join(tree.path, owner);
  if (ownerProblem(owner) !== undefined || path.dirname(root) !== tree.path) throw new InvalidOwnerError(owner);
  return root;
}

/**
 * Checks <root>/ and creates <root>/mail/ if missing. A root that is not provisioned
 * (MailboxNotProvisionedError) or not a real directory (UnsafeMailboxRootError) is
 * refused; a `mail` that is not a directory only loses the folder copy (returns false).
 */
export async function prepareMailboxRoot(root: string, tree: UserOwnedTree, logger: Logger): Promise<boolean> {
  const state = provisioningState(root);
  if (state === "missing") throw new MailboxNotProvisionedError(root);
  if (state === "unsafe") throw new UnsafeMailboxRootError(root);
  const directory = path.join(root, FOLDERS_DIRECTORY);
  let stat = lstatSync(directory, { throwIfNoEntry: false });
  if (!stat) {
    await fs.mkdir(directory, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    tree.giveDirectoryToOwner(directory, root);
    await syncDirectory(root);
    stat = lstatSync(directory);
  }
  if (!stat.isDirectory()) {
    logger.error({ directory }, "mailbox directory is a symlink or not a directory");
    return false;
  }
  return true;
}
