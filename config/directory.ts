// What the rest of SEMail needs from the LDAP directory. One implementation
// (directory/ldap.ts, ldapts) serves the web form logins and SMTP AUTH. The contract lives
// here, beside applier.ts, so the SMTP front end and the web form are handed a Directory
// without importing directory/.

import type { MailingList } from "./mailing-lists.ts";

export interface DirectoryUser {
  /** The login name as stored in the directory (the mailbox owner). */
  readonly uid: string;
  readonly dn: string;
  readonly displayName?: string;
  readonly mail?: string;
}

export type AuthOutcome = { readonly ok: true; readonly user: DirectoryUser } | { readonly ok: false };

/** The directory could not be asked (down, hung past the timeout, TLS failure): a 503 / 454, never "wrong password". */
export class DirectoryUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DirectoryUnavailableError";
  }
}

export interface Directory {
  /**
   * Binds as the user. `{ ok: false }` for an unknown user, a wrong password, an empty
   * password or a login name that is not a valid uid: callers must not tell them apart.
   */
  authenticate(uid: string, password: string): Promise<AuthOutcome>;
  /** Whether `uid` is a member of the configured admin group. */
  isAdmin(uid: string): Promise<boolean>;
  /** The mailing lists (groups with a `mail` in the groups branch); rejects when the directory cannot be asked. */
  lists?(): Promise<readonly MailingList[]>;
  close(): Promise<void>;
}
