// What each mailbox holds, for the web form of `semail web`, read where the mail is: the
// owner's root under inbound.mailRoot, when it is provisioned on this machine (the form runs
// on the VM beside the daemons). Elsewhere the use is not known and the form says so.
import path from "node:path";
import { provisioningState } from "../config/mailbox-layout.ts";
import { UsageCache } from "../mailservers/inbound/store/roots/usage.ts";

/** Bytes in `owner`'s mailbox (the inbound store's count: its home not walked), or undefined when not here. */
export function mailRootUsage(mailRoot: string): (owner: string) => Promise<number | undefined> {
  const cache = new UsageCache();
  return async (owner) => {
    const root = path.join(mailRoot, owner);
    if (provisioningState(root) !== "ready") return undefined;
    return cache.get(owner, root).catch(() => undefined);
  };
}
