// A mailing list as the directory describes it: a group in the groups branch with a `mail`
// address. The contract between directory/groups.ts (which reads it) and the inbound daemon
// (which delivers to it); the posting rule's names live here so both spell them the same.

/** Who may post: the group's members (default), anyone, or the members of a moderators' group. */
export type PostingRule = "members" | "anyone" | "moderators";

export const POSTING_RULES: readonly PostingRule[] = ["members", "anyone", "moderators"];

/** A person named by a group (member, owner or moderator): their uid and mail, where the entry has them. */
export interface ListPerson {
  readonly uid?: string;
  /** ASCII-lowercased. */
  readonly mail?: string;
}

export interface MailingList {
  readonly dn: string;
  /** The group's cn, the list's name in List-Id. */
  readonly name: string;
  /** The list's address (the group's `mail`), ASCII-lowercased. */
  readonly address: string;
  readonly members: readonly ListPerson[];
  /** The group's `owner`s: List-Unsubscribe and bounce reports go to them. */
  readonly owners: readonly ListPerson[];
  readonly rule: PostingRule;
  /** Members of the moderators' group (the `seeAlso` DN), for rule "moderators". */
  readonly moderators: readonly ListPerson[];
}

/**
 * The posting rule from the group's `businessCategory` values ("post: members", "post: anyone",
 * "post: moderators"); none given is "members". An unknown one is a problem to log, and
 * "members" meanwhile: a typo must never open a list to anyone.
 */
export function postingRuleOf(values: readonly string[]): { rule: PostingRule; problem?: string } {
  const posts = values
    .map((v) => /^\s*post\s*:\s*(.*?)\s*$/i.exec(v)?.[1]?.toLowerCase())
    .filter((v) => v !== undefined);
  if (posts.length === 0) return { rule: "members" };
  const known = posts.filter((p): p is PostingRule => (POSTING_RULES as readonly string[]).includes(p));
  if (known.length === 1 && posts.length === 1) return { rule: known[0]! };
  return {
    rule: "members",
    problem: `businessCategory ${JSON.stringify(posts.map((p) => `post: ${p}`))} is not exactly one of ${POSTING_RULES.map((r) => `"post: ${r}"`).join(", ")}`,
  };
}
