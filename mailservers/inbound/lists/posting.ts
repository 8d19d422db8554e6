// Who may post to a list: its posting rule (config/mailing-lists.ts) against MAIL FROM. A
// person's addresses are their directory `mail` and, for a uid with a live mailbox here, the
// mailbox's address and aliases. MAIL FROM is forgeable: for the rules other than "anyone" the
// backend also asks, at DATA, that the sender's domain authenticated the message (SPF or
// DMARC pass) whenever the arrival checks ran (postingUnauthenticated).
import type { ListPerson, MailingList } from "../../../config/mailing-lists.ts";
import { asciiLower } from "../../../config/reserved-names.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { permFail, type SmtpError } from "../../core/types.ts";

/** Every address the people may send from, ASCII-lowercased. */
function addressesOf(people: readonly ListPerson[], users: UsersList): Set<string> {
  const addresses = new Set<string>();
  for (const person of people) {
    if (person.mail !== undefined) addresses.add(person.mail);
    const mailbox = person.uid === undefined ? undefined : users.byOwner(person.uid);
    if (mailbox && mailbox.pendingProof === undefined)
      for (const address of [mailbox.address, ...mailbox.aliases]) addresses.add(address);
  }
  return addresses;
}

function refused(list: MailingList, who: string): SmtpError {
  return permFail(550, "5.7.1", `<${list.address}>: only ${who} may post to this list (rule "post: ${list.rule}")`);
}

/** The 550 5.7.1 for a sender the list's rule refuses, or undefined when `sender` may post. */
export function postingRefusal(list: MailingList, sender: string, users: UsersList): SmtpError | undefined {
  // A bounce to a list address must not go to every member.
  if (sender === "") return permFail(550, "5.7.1", `<${list.address}>: the null sender <> may not post to a list`);
  if (list.rule === "anyone") return undefined;
  const from = asciiLower(sender);
  if (list.rule === "moderators")
    return addressesOf(list.moderators, users).has(from) ? undefined : refused(list, "its moderators");
  return addressesOf(list.members, users).has(from) ? undefined : refused(list, "its members");
}

/** The arrival checks' results, as far as this rule needs them. */
export interface SenderAuthentication {
  readonly spf: string;
  readonly dmarc: string;
}

/**
 * The 550 5.7.1 for a post whose sender's domain did not authenticate it (neither SPF nor DMARC
 * pass), for a list that is not open to anyone; undefined when the checks did not run (a client
 * on inbound.uncheckedNetworks) or passed.
 */
export function postingUnauthenticated(
  list: MailingList,
  sender: string,
  results: SenderAuthentication | undefined,
): SmtpError | undefined {
  if (list.rule === "anyone" || results === undefined) return undefined;
  if (results.spf === "pass" || results.dmarc === "pass") return undefined;
  return permFail(
    550,
    "5.7.1",
    `<${list.address}>: rule "post: ${list.rule}" needs the sender <${sender}> authenticated (SPF or DMARC pass; got spf=${results.spf} dmarc=${results.dmarc})`,
  );
}
