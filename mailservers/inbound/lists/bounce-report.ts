// The report a list's owners get when a member on another server keeps bouncing: stored
// straight into their mailboxes through the store (no SMTP, as the expiry warning is), naming
// the member, how often it failed and the remote server's last reply. The member stays on the
// list: removing it is the owners' call. Owners without a mailbox here: the admin mailbox
// gets it instead, so the report is never dropped.
import type { MailingList } from "../../../config/mailing-lists.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { rfc5322Date } from "../../core/received.ts";
import { storeNotice } from "../notices.ts";
import type { MboxStore, StoreTarget } from "../store/index.ts";

export interface BounceReportOptions {
  readonly store: Pick<MboxStore, "deliver">;
  readonly users: () => UsersList;
  /** Where a report goes when no owner has a mailbox here. */
  readonly admin: () => StoreTarget;
  /** Our host name: Message-ID. */
  readonly hostname: string;
  /** Who the report says it is from (postmaster@ of the managed domain). */
  readonly from: string;
  readonly now: () => number;
}

export interface Bounced {
  readonly member: string;
  readonly failures: number;
  readonly reply: string;
}

/** The owners' mailboxes here, each once; the admin mailbox when there is none. */
export function reportTargets(list: MailingList, users: UsersList, admin: () => StoreTarget): StoreTarget[] {
  const targets = new Map<string, StoreTarget>();
  for (const owner of list.owners) {
    const byUid = owner.uid === undefined ? undefined : users.byOwner(owner.uid);
    const mailbox =
      (byUid?.pendingProof === undefined ? byUid : undefined) ??
      (owner.mail === undefined ? undefined : users.byDeliveryAddress(owner.mail)?.mailbox);
    if (mailbox && !targets.has(mailbox.owner))
      targets.set(mailbox.owner, { owner: mailbox.owner, recipient: mailbox.address, quota: mailbox.size });
  }
  return targets.size > 0 ? [...targets.values()] : [admin()];
}

/** Header values from directory and remote text: one line, no control characters. */
const oneLine = (text: string) => text.replace(/[\x00-\x1f\x7f]+/g, " ").slice(0, 500);

function reportText(list: MailingList, bounced: Bounced, from: string, hostname: string, now: number, id: string) {
  const member = oneLine(bounced.member);
  return [
    `From: SEMail <${from}>`,
    `To: <${list.address}>`,
    `Subject: List ${list.address}: mail to ${member} keeps bouncing`,
    `Date: ${rfc5322Date(new Date(now))}`,
    `Message-ID: <list-bounce.${id}@${hostname}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Auto-Submitted: auto-generated",
    "",
    `You own the mailing list ${list.address}.`,
    "",
    `Mail from the list to its member ${member} was refused by that member's server ${bounced.failures} times lately.`,
    `The last reply was: ${oneLine(bounced.reply)}`,
    "",
    "The member is still on the list. If the address is gone for good, remove it from the group in the directory;",
    "mail to it will otherwise keep bouncing, and you will be told again.",
    "",
  ].join("\r\n");
}

/** Stores one report in the owners' mailboxes; rejects when the store does (the caller answers 4xx). */
export async function storeBounceReport(
  options: BounceReportOptions,
  list: MailingList,
  bounced: Bounced,
): Promise<StoreTarget[]> {
  const now = options.now();
  const targets = reportTargets(list, options.users(), options.admin);
  await storeNotice(options.store, {
    kind: "list-bounce",
    hostname: options.hostname,
    now,
    targets,
    text: (id) => reportText(list, bounced, options.from, options.hostname, now, id),
  });
  return targets;
}
