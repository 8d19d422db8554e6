// The target's mailbox filesystem, made by the move when hosts.<name>.storage says how: the
// same `mailbox-fs.sh create` (and arguments) the program runs for a mailbox, at the target
// over the move's ssh (as root: it mounts) or here. Run whenever storage is set, not only for a
// missing root: a root that is an empty mount point with nothing mounted would take the copy,
// which the filesystem mounted later would hide (and mailbox-fs.sh refuses to mount over). The
// script is idempotent: on a filesystem already made and mounted for this owner and address it
// changes nothing, so a retried move, and the program's own create once the target's list says
// `host: <target>`, accept what this made. A move that fails later leaves it, emptied.
import { hostScript } from "../../config/stack/host-script-paths.ts";
import { mailboxFsArguments } from "../../config/stack/mailbox-storage.ts";
import { MoveError } from "./move-error.ts";
import { runAt } from "./place.ts";
import type { MovePlan } from "./plan.ts";

/** mailbox-fs.sh where the program installs it on a host (config/stack/host-script-paths.ts). */
export const MAILBOX_FS_ON_HOST: readonly string[] = hostScript("mailbox-fs.sh").split(" ");

/** fallocate and mkfs.ext4 of a large image, or lvcreate: seconds, a slow disk minutes. */
const CREATE_TIMEOUT_MS = 10 * 60_000;

/** Makes (or finds made) the mailbox's filesystem on the target; false when the settings give no storage. */
export async function provisionTarget(
  plan: MovePlan,
  mailboxFs: readonly string[] = MAILBOX_FS_ON_HOST,
  signal?: AbortSignal,
): Promise<boolean> {
  if (!plan.targetStorage) return false;
  const args = mailboxFsArguments("create", plan.entry, plan.targetStorage);
  try {
    await runAt(plan.target, 'exec "$@"', [...mailboxFs, ...args], {
      timeoutMs: CREATE_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    throw new MoveError(
      `cannot make ${plan.entry.owner}'s mailbox filesystem at ${plan.targetRoot} on host ${plan.target.host} (setting hosts.${plan.target.host}.storage; mailbox-fs.sh must be there and run as root): ${(error as Error).message}`,
    );
  }
  return true;
}
