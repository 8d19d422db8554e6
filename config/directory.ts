// What the rest of SEMail needs from the LDAP directory. One implementation
// (directory/ldap.ts, ldapts) serves the web form logins and SMTP AUTH. The contract lives
// here, beside applier.ts, so the SMTP front end and the web form are handed a Directory
// without importing directory/.

import type { MailingList, PostingRule } from "./mailing-lists.ts";

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
  /** Writes lists (groups) as ldap.bindDn; absent when no bindDn is set (the form then only shows them). */
  readonly listWriter?: ListWriter;
  close(): Promise<void>;
}

/** A list to create; people are named by uid and found in the directory. */
export interface NewList {
  /** The group's cn (its RDN in the groups branch, and the list's name). */
  readonly name: string;
  readonly address: string;
  readonly memberUids: readonly string[];
  /** Who made it: the group's `owner`. */
  readonly ownerUid: string;
  readonly rule: PostingRule;
}

/** Why the directory refused a list change: each kind is one answer the form can give. */
export type ListChangeProblem =
  | "exists"
  | "no-such-list"
  | "no-such-person"
  | "already-member"
  | "not-member"
  | "refused";

export class ListChangeError extends Error {
  readonly problem: ListChangeProblem;
  constructor(problem: ListChangeProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ListChangeError";
    this.problem = problem;
  }
}

/** Changes to lists, each one LDAP operation on a group found by its DN (a list's `dn` from lists()). */
export interface ListWriter {
  /** Creates the group; returns its DN. */
  create(list: NewList): Promise<string>;
  remove(dn: string): Promise<void>;
  addMember(dn: string, uid: string): Promise<void>;
  removeMember(dn: string, uid: string): Promise<void>;
}
