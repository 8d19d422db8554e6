// A list post's copies, as both daemons count them (inbound delivers them; outbound's forward
// policy lets the remote ones out): each member with a live mailbox here gets one copy in that
// mailbox (its address is the recipient: Delivered-To and the (member, sender) pair folder); a
// member known only by a `mail` elsewhere is remote. Each mailbox once, whatever names it twice.
import type { MailingList } from "../../config/mailing-lists.ts";
import type { MailboxEntry, UsersList } from "../../config/users-list.ts";

export interface LocalMember {
  readonly owner: string;
  readonly recipient: string;
  readonly quota: number;
}

export interface ListMembers {
  readonly local: readonly LocalMember[];
  /** Addresses on other servers, ASCII-lowercased. */
  readonly remote: readonly string[];
  /** Members with an address of ours but no live mailbox (left, or not proven yet): no copy. */
  readonly unreachable: readonly string[];
}

function liveMailbox(mailbox: MailboxEntry | undefined): MailboxEntry | undefined {
  return mailbox?.pendingProof === undefined ? mailbox : undefined;
}

export function listMembers(list: MailingList, users: UsersList, managedDomain: string): ListMembers {
  const local = new Map<string, LocalMember>();
  const remote = new Set<string>();
  const unreachable: string[] = [];
  const ours = (address: string) => {
    const domain = address.slice(address.lastIndexOf("@") + 1);
    return domain === managedDomain || domain.endsWith(`.${managedDomain}`) || users.hasDomain(domain);
  };
  for (const member of list.members) {
    // By uid first (the users list's owner is the LDAP uid), else by the member's mail.
    const mailbox =
      liveMailbox(member.uid === undefined ? undefined : users.byOwner(member.uid)) ??
      (member.mail === undefined ? undefined : users.byDeliveryAddress(member.mail)?.mailbox);
    if (mailbox) {
      if (!local.has(mailbox.owner))
        local.set(mailbox.owner, { owner: mailbox.owner, recipient: mailbox.address, quota: mailbox.size });
    } else if (member.mail === undefined || ours(member.mail)) unreachable.push(member.mail ?? member.uid ?? "?");
    else remote.add(member.mail);
  }
  return { local: [...local.values()], remote: [...remote], unreachable };
}
