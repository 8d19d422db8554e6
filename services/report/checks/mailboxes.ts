// Each live mailbox: its filesystem is there (provisioned, mounted on the VM) and what it
// holds against its quota. A full mailbox refuses mail with 452 4.2.2 until its owner
// deletes some or an administrator grows it.
import path from "node:path";
import type { Settings } from "../../../config/settings.ts";
import { formatSize } from "../../../config/size.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { provisioningState } from "../../../config/mailbox-layout.ts";
import { UsageCache } from "../../../mailservers/inbound/store/roots/usage.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** Use above this share of the quota is a warning. */
export const FULL_WARNING = 0.9;

export async function mailboxFindings(settings: Settings, users: UsersList): Promise<Finding[]> {
  const usage = new UsageCache();
  const findings: Finding[] = [];
  for (const m of users.mailboxes) {
    const root = path.join(settings.inbound.mailRoot, m.owner);
    const subject = `mailbox ${m.owner} (${m.address})`;
    if (provisioningState(root) !== "ready") {
      findings.push(
        fail(
          "mailboxes",
          subject,
          `${root} is not provisioned (not mounted?)`,
          "apply the users list again (a stack update, or `semail start`'s applier)",
        ),
      );
      continue;
    }
    const used = await usage.get(m.owner, root);
    const share = used / m.size;
    const detail = `${formatSize(used)} of ${formatSize(m.size)} (${Math.round(share * 100)}%)`;
    const fix = `the owner deletes mail, or an administrator gives ${m.owner} a larger size`;
    if (share >= 1) findings.push(fail("mailboxes", subject, `full: ${detail}; new mail gets 452 4.2.2`, fix));
    else if (share >= FULL_WARNING) findings.push(warn("mailboxes", subject, detail, fix));
    else findings.push(ok("mailboxes", subject, detail));
  }
  return findings;
}
