// The LDAP directory: logins on the web form and SMTP AUTH on the outbound daemon.
import { z } from "zod";

/** Where SEMail's own directory keeps users and the admin group, under `baseDn`. */
export function directoryLayout(baseDn: string) {
  const people = `ou=people,${baseDn}`;
  const groups = `ou=groups,${baseDn}`;
  return { people, groups, userDnTemplate: `uid={uid},${people}`, adminGroupDn: `cn=admins,${groups}` };
}

const defaults = directoryLayout("dc=semail,dc=test");

export const ldapSettings = z
  .object({
    /** ldap:// or ldaps:// URL of the directory. */
    url: z.string().regex(/^ldaps?:\/\/[^\s/]+\/?$/, { message: "must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]" }).default("ldap://127.0.0.1:389"),
    /** Base DN of the directory. */
    baseDn: z.string().min(1).default("dc=semail,dc=test"),
    /** DN of a user, {uid} replaced by the escaped login name. Used when userFilter is not set. */
    userDnTemplate: z.string().includes("{uid}").default(defaults.userDnTemplate),
    /** Search filter to find a user instead of the template, e.g. "(&(objectClass=inetOrgPerson)(uid={uid}))". */
    userFilter: z.string().includes("{uid}").optional(),
    /** DN and password to bind for searches (userFilter, admin group); anonymous when unset. */
    bindDn: z.string().optional(),
    bindPassword: z.string().optional(),
    /** DN of the group (groupOfNames, groupOfUniqueNames or posixGroup) whose members are administrators. */
    adminGroupDn: z.string().default(defaults.adminGroupDn),
    /** Upgrade ldap:// with StartTLS. */
    startTls: z.boolean().default(false),
    /** PEM CA file for ldaps:// or StartTLS. */
    caFile: z.string().optional(),
    /** Connect and operation timeout, in milliseconds. */
    timeoutMs: z.coerce.number().int().min(100).max(60000).default(5000),
  })
  .strict();

export type LdapSettings = z.output<typeof ldapSettings>;
