// What each mailbox holds, for the web form of `semail web`, read where the mail is: the
// owner's root under inbound.mailRoot, when it is provisioned on this machine (the form runs
// on the VM beside the daemons). Elsewhere, or when the walk fails, the form says it is not known.
import { mailRootUsage as storeUsage } from "../mailservers/inbound/store/roots/usage.ts";

/** Bytes in `owner`'s mailbox (the inbound store's count: its home not walked), or undefined when not known here. */
export function mailRootUsage(mailRoot: string): (owner: string) => Promise<number | undefined> {
  const usage = storeUsage(mailRoot);
  return (owner) => usage(owner).catch(() => undefined);
}
