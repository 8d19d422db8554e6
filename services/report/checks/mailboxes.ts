// Each live mailbox: its filesystem is there (provisioned, mounted on the VM) and what it
// holds against its quota. A full mailbox refuses mail with 452 4.2.2 until its owner
// deletes some or an administrator grows it.
import path from "node:path";
import { mailboxesHere } from "../../../config/mailboxes-here.ts";
import type { Settings } from "../../../config/settings.ts";
import { formatSize } from "../../../config/size.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { mailRootUsage } from "../../../mailservers/inbound/store/roots/usage.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** Use above this share of the quota is a warning. */
export const FULL_WARNING = 0.9;

export async function mailboxFindings(settings: Settings, users: UsersList): Promise<Finding[]> {
  const usage = mailRootUsage(settings.inbound.mailRoot);
  const findings: Finding[] = [];
  // Another host's mailboxes are provisioned there, not here.
  for (const m of mailboxesHere(users, settings.hostName).mailboxes) {
    const root = path.join(settings.inbound.mailRoot, m.owner);
    const subject = `mailbox ${m.owner} (${m.address})`;
    let used: number | undefined;
    try {
      used = await usage(m.owner);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      findings.push(fail("mailboxes", subject, `${root} cannot be read: ${why}`, `check ${root}'s owner and mode`));
      continue;
    }
    if (used === undefined) {
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
    const share = used / m.size;
    const detail = `${formatSize(used)} of ${formatSize(m.size)} (${Math.round(share * 100)}%)`;
    const fix = `the owner deletes mail, or an administrator gives ${m.owner} a larger size`;
    if (share >= 1) findings.push(fail("mailboxes", subject, `full: ${detail}; new mail gets 452 4.2.2`, fix));
    else if (share >= FULL_WARNING) findings.push(warn("mailboxes", subject, detail, fix));
    else findings.push(ok("mailboxes", subject, detail));
  }
  return findings;
}
