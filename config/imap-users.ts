// Who may log in to IMAP, as Dovecot's passwd-file: the live mailboxes of the users list,
// each with its mail uid, and each mailbox's address as a second login name for its owner.
// Rendered by local mode (services/imap) and by the Pulumi program for the VM's Dovecot
// container alike.
import { mailUid } from "./mail-uid.ts";
import type { UsersList } from "./users-list.ts";

export interface ImapUser {
  readonly owner: string;
  readonly uid: number;
  /** The mailbox root: <mailRoot>/<owner>. */
  readonly home: string;
  /** The mailbox's address: mail programs log in with it (it stands for `owner`). */
  readonly address: string;
}

/** Who may log in: the live mailboxes (UsersList.mailboxes skips pending ones), each with its mail uid. */
export function imapUsers(list: UsersList, mailRoot: string): ImapUser[] {
  const root = mailRoot.replace(/\/+$/, "");
  return list.mailboxes.map((m) => ({
    owner: m.owner,
    uid: mailUid(m.owner),
    home: `${root}/${m.owner}`,
    address: m.address,
  }));
}

/**
 * The passwd-file the passdbs and the userdb read, two lines per mailbox, no password (the
 * LDAP bind checks it):
 *   `owner::uid:gid::home::`                        the user, their uid and mailbox root;
 *   `address:::::::user=owner noauthenticate`      the address, a login that stands for the owner.
 * Only the first passdb (names with '@') reads address lines, and it turns them into the
 * owner before anything else is asked. Dovecot re-reads the file when it changes.
 */
export function renderUsersFile(users: readonly ImapUser[]): string {
  const lines = users.flatMap((u) => {
    if (/[:\s]/.test(u.owner + u.home + u.address))
      throw new Error(`mailbox ${JSON.stringify(u.owner)}: ':' or white space cannot be in Dovecot's users file`);
    return [`${u.owner}::${u.uid}:${u.uid}::${u.home}::`, `${u.address}:::::::user=${u.owner} noauthenticate`];
  });
  return `${lines.join("\n")}${lines.length > 0 ? "\n" : ""}`;
}
