// The webmail's address file (Roundcube's virtuser_file: "address uid" per line), from the
// users list: Roundcube gives each user one identity, their mailbox address, from it.
// Rendered by local mode (services/webmail) and by the Pulumi program for the VM's
// webmail container alike.
import type { UsersList } from "./users-list.ts";

/** One line per live mailbox (a pending one is not the user's yet: the outbound daemon would refuse it as a sender). */
export function renderAddressFile(list: UsersList): string {
  const lines = ["# Written by SEMail from the users list: mailbox address, then its owner's LDAP uid."];
  for (const mailbox of list.mailboxes) {
    if (mailbox.pendingProof !== undefined) continue;
    lines.push(`${mailbox.address} ${mailbox.owner}`);
  }
  return `${lines.join("\n")}\n`;
}
