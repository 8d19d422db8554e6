// What an owner may change in their mailbox's aliases, as pure functions from the current
// list to the new entries (as mailbox-rules.ts does for the rest). An alias is an id on the
// mailbox's own domain, checked as the users list checks it, with its words.
import { asciiLower, reservedRoute } from "../config/reserved-names.ts";
import { localPartProblem, MAX_ALIASES, type MailboxEntry, type UsersList } from "../config/users-list.ts";
import { toRaw, type RawMailbox } from "./users-list-file.ts";
import { Refusal } from "./refusal.ts";

/** The alias id an owner typed ("shop", or "shop@their.domain"), ASCII-lowercased; a Refusal when it is not one. */
function aliasId(m: MailboxEntry, text: string): string {
  const written = text.trim();
  if (written === "") throw new Refusal(400, "Choose an alias (the part before the @).");
  const at = written.lastIndexOf("@");
  const id = at < 0 ? written : written.slice(0, at);
  if (at >= 0 && asciiLower(written.slice(at + 1)).replace(/\.$/, "") !== m.domain)
    throw new Refusal(400, `An alias is on your mailbox's own domain, ${m.domain}: write only the part before the @.`);
  const localPart = asciiLower(id);
  const problem = localPartProblem(localPart, id);
  // A reserved role name is refused with 409, as a mailbox id is (mailbox-rules.ts planCreate).
  if (problem) throw new Refusal(reservedRoute(localPart) ? 409 : 400, `${problem.replaceAll("mailbox id", "alias")}.`);
  return localPart;
}

/**
 * Whether `address` already reaches another owner's mailbox: as its address or alias, live or
 * pending, or as a sub-address of one (with "-" as the separator, bob-news@ is bob's mail).
 */
function taken(list: UsersList, address: string, owner: string): boolean {
  const reached = list.byDeliveryAddress(address);
  return (
    (reached !== undefined && reached.mailbox.owner !== owner) ||
    list.pendingByAddress(address) !== undefined ||
    list.entries.some((m) => m.owner !== owner && m.aliases.includes(address))
  );
}

/** The list with `text` added to `owner`'s aliases; refuses a bad, reserved, taken or one-too-many alias. */
export function planAddAlias(list: UsersList, owner: string, text: string): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, "Create your mailbox first; an alias is one more address of it.");
  // An unproven domain is not yet the owner's: an alias on it would be a claim of its own.
  if (mailbox.pendingProof !== undefined)
    throw new Refusal(409, `${mailbox.domain} is not proven yet: add aliases once your mailbox is live.`);
  const id = aliasId(mailbox, text);
  const address = `${id}@${mailbox.domain}`;
  if (address === mailbox.address || mailbox.aliases.includes(address))
    throw new Refusal(409, `${address} is already an address of your mailbox.`);
  if (taken(list, address, owner)) throw new Refusal(409, `The address ${address} is already taken.`);
  if (mailbox.aliases.length >= MAX_ALIASES)
    throw new Refusal(409, `You have ${MAX_ALIASES} aliases, the most a mailbox holds; remove one first.`);
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const raw = toRaw(m);
    return { ...raw, aliases: [...(raw.aliases ?? []), id] };
  });
}

/** The list without the alias `address` among `owner`'s aliases. */
export function planRemoveAlias(list: UsersList, owner: string, address: string): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, "You have no mailbox, so no aliases.");
  const gone = asciiLower(address.trim());
  const kept = mailbox.aliases.filter((a) => a !== gone);
  if (kept.length === mailbox.aliases.length)
    throw new Refusal(404, `There is no alias ${address.trim()} (it may have been removed already).`);
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const { aliases: _old, ...rest } = toRaw(m);
    return kept.length > 0 ? { ...rest, aliases: kept.map((a) => a.slice(0, a.lastIndexOf("@"))) } : rest;
  });
}
