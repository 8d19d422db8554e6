// The uid and gid that own a mailbox's filesystem, and that its owner's login in their own
// container has. Derived from the owner's name, so it needs no allocation table, never
// moves when other users come and go, and is the same on the VM and in local mode.
import { createHash } from "node:crypto";

/** Above Debian's dynamic ranges (1000-59999 and 100000+ for subuids are per host; ours is per mailbox). */
export const FIRST_MAIL_UID = 200_000;
const SPAN = 1_000_000_000;

/** The uid (and gid) of `owner`'s mailbox: 200000 + 30 bits of SHA-256 of the name. */
export function mailUid(owner: string): number {
  return FIRST_MAIL_UID + (createHash("sha256").update(`semail-uid:${owner}`).digest().readUInt32BE(0) % SPAN);
}
