// A mailbox's forward (`forward: {to, keepCopy}` in the users list) as its owner sets or
// clears it: the target must be an address elsewhere, never one this server serves.
import { forwardTargetIsOurs, forwardTargetProblem } from "../config/mailbox-forward.ts";
import type { UsersList } from "../config/users-list.ts";
import { toRaw, type RawMailbox } from "./users-list-file.ts";
import { Refusal } from "./refusal.ts";

/** Every address the list serves (mailboxes and aliases, live or pending): their domains are ours. */
function servedAddresses(list: UsersList): string[] {
  return list.entries.flatMap((m) => [m.address, ...m.aliases]);
}

/** The list with `owner`'s mail forwarded to `text` (keeping a copy when `keepCopy`). */
export function planForward(
  list: UsersList,
  owner: string,
  text: string,
  keepCopy: boolean,
  managedDomain: string,
): RawMailbox[] {
  if (!list.byOwner(owner)) throw new Refusal(404, "Create your mailbox first; a forward sends its mail on.");
  const written = text.trim();
  if (written === "") throw new Refusal(400, "Enter the address to forward to, e.g. me@elsewhere.example.");
  const problem = forwardTargetProblem(written);
  if (problem) throw new Refusal(400, `${problem}.`);
  const sign = written.lastIndexOf("@");
  const to = `${written.slice(0, sign)}@${written.slice(sign + 1).toLowerCase()}`;
  if (forwardTargetIsOurs(to, managedDomain, servedAddresses(list)))
    throw new Refusal(
      409,
      `${to} is on a domain this server serves: a forward is for an address elsewhere (for another address here, ask for an alias).`,
    );
  return list.entries.map((m) => (m.owner === owner ? { ...toRaw(m), forward: { to, keepCopy } } : toRaw(m)));
}

/** The list without `owner`'s forward. */
export function planRemoveForward(list: UsersList, owner: string): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, "You have no mailbox, so no forward.");
  if (!mailbox.forward) throw new Refusal(404, "There is no forward (it may have been removed already).");
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const { forward: _old, ...rest } = toRaw(m);
    return rest;
  });
}
