// The move's first step, from the settings and the users list alone: which mailbox (by owner or
// address), that it is live, on this host and not moving already, and that the target is another
// host the settings name. Every refusal names the setting or flag to change.
import path from "node:path";
import { releaseNotePath } from "../../config/mailbox-release.ts";
import type { Settings } from "../../config/settings.ts";
import type { MailboxStorage } from "../../config/stack/mailbox-storage.ts";
import type { MailboxEntry, UsersList } from "../../config/users-list.ts";
import { MoveError } from "./move-error.ts";
import { parseSshLogin, type Place } from "./place.ts";

export interface MovePlan {
  readonly entry: MailboxEntry;
  /** This host, and the mailbox root the inbound daemon stores into here. */
  readonly source: Place;
  readonly sourceRoot: string;
  /** Where the inbound daemon here says it let go of the mailbox (mailservers/inbound's contract). */
  readonly releasedFile: string;
  /** The target host, its mailbox root, and its users list file when it has its own. */
  readonly target: Place;
  readonly targetRoot: string;
  readonly targetUsers?: string;
  /** How the target makes a mailbox filesystem (hosts.<name>.storage); absent: its root must exist. */
  readonly targetStorage?: MailboxStorage;
  /** Our users list (settings users). */
  readonly users: string;
}

/** The plan for moving `id` (owner or address) to host `to`, or a MoveError saying why not. */
export function planMove(
  settings: Settings,
  list: UsersList,
  id: string,
  to: string,
  sshCommand: readonly string[] = ["ssh"],
): MovePlan {
  const here = settings.hostName;
  const known = Object.keys(settings.hosts);
  const entry = list.byOwner(id) ?? list.byAddress(id) ?? list.pendingByAddress(id);
  if (!entry)
    throw new MoveError(
      `no mailbox ${JSON.stringify(id)} in the users list ${settings.users} (setting users): give its owner (LDAP uid) or its address`,
    );
  const name = `${entry.owner} (${entry.address})`;
  if (entry.pendingProof !== undefined)
    throw new MoveError(`mailbox ${name} is not live (its domain's proof is pending): it has no mail to move`);
  if (entry.host !== here)
    throw new MoveError(
      `mailbox ${name} is on host ${entry.host}, not on this one (setting hostName: ${here}): run the move there`,
    );
  if (entry.moving !== undefined)
    throw new MoveError(
      `mailbox ${name} is already moving to ${entry.moving}: wait for that move; if it died, drop "moving: ${entry.moving}" from its entry in ${settings.users} (mail for it is then stored here again) and run the move again`,
    );
  if (to === here)
    throw new MoveError(`--to ${to} is this host (setting hostName): name another host of the setting hosts`);
  const host = settings.hosts[to];
  if (!host)
    throw new MoveError(
      `--to ${JSON.stringify(to)} is not a host of the setting hosts (${known.length > 0 ? `known: ${known.join(", ")}` : "none is set"}): add it there, with its smtp, mx and mailRoot`,
    );
  return {
    entry,
    source: { host: here, sshCommand },
    sourceRoot: path.join(settings.inbound.mailRoot, entry.owner),
    releasedFile: releaseNotePath(settings.inbound.mailRoot, entry.owner),
    target: { host: to, sshCommand, ...(host.ssh === undefined ? {} : { ssh: parseSshLogin(host.ssh) }) },
    targetRoot: path.posix.join(host.mailRoot, entry.owner),
    ...(host.users === undefined ? {} : { targetUsers: host.users }),
    ...(host.storage === undefined ? {} : { targetStorage: storageOf(host.storage, host.mailRoot) }),
    users: settings.users,
  };
}

/** hosts.<name>.storage as mailbox-fs.sh's storage (config/stack/mailbox-storage.ts). */
function storageOf(storage: { vg: string } | { imageDir: string }, mailRoot: string): MailboxStorage {
  return "vg" in storage
    ? { backend: "lvm", vgName: storage.vg, mailRoot }
    : { backend: "image", imageDir: storage.imageDir, mailRoot };
}
