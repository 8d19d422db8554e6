// Who may log in to IMAP, as Dovecot's passwd-file: the live mailboxes of the users list,
// each with its mail uid. Rendered by local mode (provisioning/imap) and by the Pulumi
// program for the VM's Dovecot container alike.
import { mailUid } from "./mail-uid.ts";
import type { UsersList } from "./users-list.ts";

export interface ImapUser {
  readonly owner: string;
  readonly uid: number;
  /** The mailbox root: <mailRoot>/<owner>. */
  readonly home: string;
}

/** Who may log in: the live mailboxes (UsersList.mailboxes skips pending ones), each with its mail uid. */
export function imapUsers(list: UsersList, mailRoot: string): ImapUser[] {
  const root = mailRoot.replace(/\/+$/, "");
  return list.mailboxes.map((m) => ({ owner: m.owner, uid: mailUid(m.owner), home: `${root}/${m.owner}` }));
}

/**
 * The passwd-file both the second passdb and the userdb read: `owner::uid:gid::home::`,
 * no password (the LDAP bind checked it). Dovecot re-reads it when it changes.
 */
export function renderUsersFile(users: readonly ImapUser[]): string {
  const lines = users.map((u) => {
    if (/[:\n]/.test(u.owner + u.home)) throw new Error(`mailbox ${JSON.stringify(u.owner)}: ':' or a line break cannot be in Dovecot's users file`);
    return `${u.owner}::${u.uid}:${u.uid}::${u.home}::`;
  });
  return `${lines.join("\n")}${lines.length > 0 ? "\n" : ""}`;
}
