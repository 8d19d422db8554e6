// The mailboxes this SEMail host holds, when several hosts share one users list: those whose
// entry names it as `host:` (config/mailbox-host.ts). One filter, used by every deployer (the
// Pulumi program, local mode) for what it makes on this host: filesystems, containers, IMAP
// users. A mailbox `moving` away is still here (its entry says `host:` this one) until the move
// ends by rewriting the entry; then it is gone from here as a deleted mailbox is, its mail kept.
// The daemons and the zone still read the whole list: inbound hands on mail for the others.
import { UsersList, type MailboxEntry } from "./users-list.ts";

/** Whether this host (`hostName`) holds the entry's mailbox. */
export function livesHere(entry: Pick<MailboxEntry, "host">, hostName: string): boolean {
  return entry.host === hostName;
}

/** The part of the list this host holds, live and pending entries alike; the list itself when that is all of it. */
export function mailboxesHere(users: UsersList, hostName: string): UsersList {
  const here = users.entries.filter((m) => livesHere(m, hostName));
  if (here.length === users.entries.length) return users;
  return new UsersList(here, { subaddressSeparator: users.subaddressSeparator });
}
