// The move's checks on disk: the mailbox root here is provisioned, and the target's exists
// (provisioning made it: on a VM the program's filesystem or the move's own, provision.ts;
// locally a directory) and holds no mail yet. A move never merges two mailboxes: mail already
// on the target is refused.
import { stat } from "node:fs/promises";
import { provisioningState } from "../../config/mailbox-layout.ts";
import { MAIL_IN_ROOT, relativeName } from "./mailbox-files.ts";
import { MoveError } from "./move-error.ts";
import { describePlace, runAt } from "./place.ts";
import type { MovePlan } from "./plan.ts";

export async function checkRoots(plan: MovePlan): Promise<void> {
  const owner = plan.entry.owner;
  if (provisioningState(plan.sourceRoot) !== "ready")
    throw new MoveError(
      `no provisioned mailbox root for ${owner} at ${plan.sourceRoot} on this host (setting inbound.mailRoot): nothing to move`,
    );
  const found = (await runAt(plan.target, MAIL_IN_ROOT, [plan.targetRoot])).split("\n").filter(Boolean);
  if (found[0] !== "root")
    throw new MoveError(
      `${describePlace(plan.target)} has no mailbox root for ${owner} at ${plan.targetRoot} (its mailRoot in the setting hosts): provision it there first (the program makes its filesystem; a local test makes the directory), or set hosts.${plan.target.host}.storage and the move makes it`,
    );
  // One directory under two names (a mailRoot set to ours, a symlink): a copy onto itself, then emptied.
  if (!plan.target.ssh) {
    const [here, there] = await Promise.all([stat(plan.sourceRoot), stat(plan.targetRoot)]);
    if (here.dev === there.dev && here.ino === there.ino)
      throw new MoveError(
        `${plan.targetRoot} (host ${plan.target.host}'s mailRoot in the setting hosts) is this host's own mailbox root ${plan.sourceRoot} (setting inbound.mailRoot): give host ${plan.target.host} its own`,
      );
  }
  const mail = found.slice(1).map(relativeName);
  if (mail.length > 0)
    throw new MoveError(
      `host ${plan.target.host} already has mail for ${owner} at ${plan.targetRoot} (${mail.slice(0, 3).join(", ")}${mail.length > 3 ? ", ..." : ""}): a move never merges; remove it or pick another host`,
    );
}
