// Mailing lists from the directory: every group in the groups branch with a `mail` address.
// Schema: groupOfNames (RFC 4519, in core.schema, so every slapd has it) with the auxiliary
// class extensibleObject (RFC 4512) for `mail`. groupOfNames already carries what a list needs
// besides its address: `member` DNs, `owner` DNs, `businessCategory` (our "post: RULE") and
// `seeAlso` (the moderators' group). posixGroup/memberUid and groupOfUniqueNames are read too,
// as isAdmin reads them. No custom schema: nothing to load in local mode or the VM's image.
import {
  AndFilter,
  type Client,
  EqualityFilter,
  NoSuchObjectError,
  OrFilter,
  PresenceFilter,
  type Entry,
} from "ldapts";
import type { Logger } from "pino";
import { postingRuleOf, type ListPerson, type MailingList } from "../config/mailing-lists.ts";
import { asciiLower } from "../config/reserved-names.ts";
import { ownerProblem } from "../config/users-list.ts";

export interface GroupsContext {
  /** The groups branch searched. */
  readonly groupsDn: string;
  /** The DN of a user by uid (template or search), or undefined when there is none. */
  readonly userDn: (client: Client, uid: string) => Promise<string | undefined>;
  readonly logger: Logger;
}

/** More than this many lists, or members in one group, is a misconfiguration: bounded work per refresh. */
const MAX_LISTS = 1000;
const MAX_PEOPLE = 5000;
const GROUP_ATTRIBUTES = ["cn", "mail", "member", "uniqueMember", "memberUid", "owner", "businessCategory", "seeAlso"];

function values(entry: Entry, attribute: string): string[] {
  const value = entry[attribute];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((v) => (typeof v === "string" ? v : v.toString("utf8")));
}

/** A list address as users list addresses are kept: ASCII-lowercased, id@domain. */
function listAddress(mail: string | undefined): string | undefined {
  // Nothing that could end a header field or an angle-bracketed address.
  if (mail === undefined || !/^[^\s@<>()[\],;:"\\]+@[^\s@<>()[\],;:"\\]+$/.test(mail)) return undefined;
  return asciiLower(mail).replace(/\.$/, "");
}

/** Reads the people a group names, each once: member DNs are read for uid and mail; a memberUid is found by uid. */
async function people(client: Client, group: Entry, context: GroupsContext): Promise<ListPerson[]> {
  const dns = new Set([...values(group, "member"), ...values(group, "uniqueMember")]);
  for (const uid of values(group, "memberUid")) {
    // Checked before it reaches a DN or filter, as logins are.
    const dn = ownerProblem(uid) === undefined ? await context.userDn(client, uid) : undefined;
    if (dn === undefined)
      context.logger.warn({ group: group.dn, memberUid: uid }, "list member uid not in the directory");
    else dns.add(dn);
  }
  if (dns.size > MAX_PEOPLE) throw new Error(`group ${group.dn} names more than ${MAX_PEOPLE} people`);
  const found: ListPerson[] = [];
  for (const dn of dns) {
    const entry = await readEntry(client, dn, ["uid", "mail"]);
    if (entry === undefined) {
      context.logger.warn({ group: group.dn, member: dn }, "list member entry not found; skipped");
      continue;
    }
    const uid = values(entry, "uid")[0];
    const mail = listAddress(values(entry, "mail")[0]);
    if (uid === undefined && mail === undefined) continue;
    found.push({ ...(uid !== undefined && { uid: uid.toLowerCase() }), ...(mail !== undefined && { mail }) });
  }
  return found;
}

/** One entry by DN, or undefined when there is no such entry. */
async function readEntry(client: Client, dn: string, attributes: string[]): Promise<Entry | undefined> {
  try {
    return (await client.search(dn, { scope: "base", attributes, sizeLimit: 1 })).searchEntries[0];
  } catch (err) {
    if (err instanceof NoSuchObjectError) return undefined;
    throw err;
  }
}

/** The lists in the groups branch. An LDAP failure rejects (the caller keeps its last good lists). */
export async function searchLists(client: Client, context: GroupsContext): Promise<MailingList[]> {
  const filter = new AndFilter({
    filters: [
      new PresenceFilter({ attribute: "mail" }),
      new OrFilter({
        filters: ["groupOfNames", "groupOfUniqueNames", "posixGroup"].map(
          (value) => new EqualityFilter({ attribute: "objectClass", value }),
        ),
      }),
    ],
  });
  const { searchEntries } = await client.search(context.groupsDn, {
    scope: "sub",
    filter,
    sizeLimit: MAX_LISTS,
    attributes: GROUP_ATTRIBUTES,
  });
  const lists: MailingList[] = [];
  for (const group of searchEntries) {
    const address = listAddress(values(group, "mail")[0]);
    const name = values(group, "cn")[0];
    if (address === undefined || name === undefined) {
      context.logger.warn({ group: group.dn }, "group has no usable mail or cn; not a list");
      continue;
    }
    const { rule, problem } = postingRuleOf(values(group, "businessCategory"));
    if (problem) context.logger.warn({ group: group.dn }, `${problem}; members only meanwhile`);
    const moderatorsDn = values(group, "seeAlso")[0];
    const moderatorsGroup =
      rule === "moderators" && moderatorsDn !== undefined
        ? await readEntry(client, moderatorsDn, GROUP_ATTRIBUTES)
        : undefined;
    if (rule === "moderators" && moderatorsGroup === undefined)
      context.logger.warn(
        { group: group.dn, seeAlso: moderatorsDn },
        "moderators' group (seeAlso) not found; nobody may post",
      );
    const owners: ListPerson[] = [];
    for (const dn of values(group, "owner")) {
      const entry = await readEntry(client, dn, ["uid", "mail"]);
      const mail = entry && listAddress(values(entry, "mail")[0]);
      const uid = entry && values(entry, "uid")[0];
      if (entry)
        owners.push({ ...(uid !== undefined && { uid: uid.toLowerCase() }), ...(mail !== undefined && { mail }) });
    }
    lists.push({
      dn: group.dn,
      name,
      address,
      members: await people(client, group, context),
      owners,
      rule,
      moderators: moderatorsGroup ? await people(client, moderatorsGroup, context) : [],
    });
  }
  return lists;
}
