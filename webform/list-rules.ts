// What an administrator may ask of a new mailing list, checked before the directory is asked:
// an address on the managed domain that no mailbox has (as address, alias, sub-address or
// pending claim), no role name, no other list's; members named by uid; "members" or "anyone".
import type { NewList } from "../config/directory.ts";
import type { MailingList, PostingRule } from "../config/mailing-lists.ts";
import { asciiLower, reservedRoute } from "../config/reserved-names.ts";
import { localPartProblem, ownerProblem, type UsersList } from "../config/users-list.ts";
import { Refusal } from "./refusal.ts";

/** At most this many members typed into one form: a bound on the directory work of one request. */
export const MAX_NEW_MEMBERS = 200;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9]$|^[A-Za-z0-9]$/;
/** "moderators" needs a moderators' group (seeAlso), which the form does not make. */
export const FORM_RULES: readonly PostingRule[] = ["members", "anyone"];

export interface NewListRequest {
  readonly name: string;
  /** The id before the @ (or the whole address on the managed domain). */
  readonly localPart: string;
  /** uids separated by commas or spaces. */
  readonly members: string;
  readonly rule: string;
  readonly admin: string;
}

/** The uids of a members field, lowercased, each once; a Refusal for one that cannot be a uid. */
export function memberUids(text: string): string[] {
  const uids = [
    ...new Set(
      text
        .split(/[\s,;]+/)
        .filter((u) => u !== "")
        .map((u) => u.toLowerCase()),
    ),
  ];
  for (const uid of uids) {
    const problem = ownerProblem(uid);
    if (problem) throw new Refusal(400, `The member ${problem}.`);
  }
  return uids;
}

export function planNewList(
  users: UsersList,
  lists: readonly MailingList[],
  request: NewListRequest,
  managedDomain: string,
): NewList {
  const name = request.name.trim();
  if (!NAME.test(name))
    throw new Refusal(400, "Name the list with letters, digits, spaces, '.', '_' or '-' (at most 64).");
  const written = request.localPart.trim();
  const at = written.lastIndexOf("@");
  if (at >= 0 && asciiLower(written.slice(at + 1)).replace(/\.$/, "") !== managedDomain)
    throw new Refusal(400, `A list's address is on ${managedDomain}: write only the part before the @.`);
  const localPart = asciiLower(at < 0 ? written : written.slice(0, at));
  if (localPart === "") throw new Refusal(400, "Choose the list's address (the part before the @).");
  const problem = localPartProblem(localPart, written);
  if (problem)
    throw new Refusal(reservedRoute(localPart) ? 409 : 400, `${problem.replaceAll("mailbox id", "list address")}.`);
  const address = `${localPart}@${managedDomain}`;
  // The mailbox would win at delivery and the list never be served: refuse it here.
  const mailbox = users.byDeliveryAddress(address)?.mailbox ?? users.pendingByAddress(address);
  if (mailbox) throw new Refusal(409, `${address} is an address of the mailbox of ${mailbox.owner}.`);
  if (lists.some((l) => l.address === address)) throw new Refusal(409, `There is already a list at ${address}.`);
  if (lists.some((l) => l.name.toLowerCase() === name.toLowerCase()))
    throw new Refusal(409, `There is already a list named ${name}.`);
  const uids = memberUids(request.members);
  if (uids.length === 0) throw new Refusal(400, "Name at least one member (a list always has one).");
  if (uids.length > MAX_NEW_MEMBERS)
    throw new Refusal(400, `At most ${MAX_NEW_MEMBERS} members at once; add more after.`);
  const rule = FORM_RULES.find((r) => r === request.rule);
  if (rule === undefined) throw new Refusal(400, `Choose who may post: ${FORM_RULES.join(" or ")}.`);
  return { name, address, memberUids: uids, ownerUid: request.admin, rule };
}
