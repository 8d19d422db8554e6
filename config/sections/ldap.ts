// The LDAP directory: logins on the web form and SMTP AUTH on the outbound daemon.
import * as z from "zod/mini";
import { integer, nonEmpty } from "./common.ts";

/** Where SEMail's own directory keeps users and the admin group, under `baseDn`. */
export function directoryLayout(baseDn: string) {
  const people = `ou=people,${baseDn}`;
  const groups = `ou=groups,${baseDn}`;
  return { people, groups, userDnTemplate: `uid={uid},${people}`, adminGroupDn: `cn=admins,${groups}` };
}

const defaults = directoryLayout("dc=semail,dc=test");
const withUid = () => z.string().check(z.includes("{uid}"));

export const ldapSettings = z.strictObject({
  /** ldap:// or ldaps:// URL of the directory. */
  url: z._default(
    z
      .string()
      .check(z.regex(/^ldaps?:\/\/[^\s/]+\/?$/, { message: "must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]" })),
    "ldap://127.0.0.1:389",
  ),
  /** Base DN of the directory. */
  baseDn: z._default(nonEmpty(), "dc=semail,dc=test"),
  /** DN of a user, {uid} replaced by the escaped login name. Used when userFilter is not set. */
  userDnTemplate: z._default(withUid(), defaults.userDnTemplate),
  /** Search filter to find a user instead of the template, e.g. "(&(objectClass=inetOrgPerson)(uid={uid}))". */
  userFilter: z.optional(withUid()),
  /** DN and password to bind for searches (userFilter, admin group); anonymous when unset. */
  bindDn: z.optional(z.string()),
  bindPassword: z.optional(z.string()),
  /** DN of the group (groupOfNames, groupOfUniqueNames or posixGroup) whose members are administrators. */
  adminGroupDn: z._default(z.string(), defaults.adminGroupDn),
  /** The branch searched for mailing lists (groups with a `mail`); unset: ou=groups under baseDn. */
  groupsDn: z.optional(nonEmpty()),
  /** Upgrade ldap:// with StartTLS. */
  startTls: z._default(z.boolean(), false),
  /** PEM CA file for ldaps:// or StartTLS. */
  caFile: z.optional(z.string()),
  /** Connect and operation timeout, in milliseconds. */
  timeoutMs: z._default(integer(100, 60000), 5000),
});

export type LdapSettings = z.output<typeof ldapSettings>;
