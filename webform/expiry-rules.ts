// A mailbox's expiry (`expires` in the users list) as the form changes it: an administrator
// sets any date or clears it; an owner only within web.maxExpiry from now (ownerExpiryProblem).
import { ownerExpiryProblem, parseExpiry } from "../config/mailbox-expiry.ts";
import type { UsersList } from "../config/users-list.ts";
import { toRaw, type RawMailbox } from "./users-list-file.ts";
import { Refusal } from "./refusal.ts";

/** The list with `owner`'s expiry set to `written`, or cleared when it is empty. */
function withExpiry(list: UsersList, owner: string, written: string): RawMailbox[] {
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const { expires: _old, ...rest } = toRaw(m);
    return written === "" ? rest : { ...rest, expires: written };
  });
}

/** An administrator's change: any ISO date (the past too: to stop a mailbox now), or "" to clear. */
export function planExpiry(list: UsersList, owner: string, text: string): RawMailbox[] {
  if (!list.byOwner(owner)) throw new Refusal(404, `There is no mailbox for ${owner}.`);
  const written = text.trim();
  if (written !== "" && parseExpiry(written) === undefined)
    throw new Refusal(400, `${JSON.stringify(written)} is not a date: write e.g. 2027-01-31.`);
  return withExpiry(list, owner, written);
}

/** The owner's change to their own mailbox: a future date at most `maxMs` away, or "" to clear. */
export function planOwnExpiry(list: UsersList, owner: string, text: string, now: number, maxMs: number): RawMailbox[] {
  if (!list.byOwner(owner)) throw new Refusal(404, "You have no mailbox, so no expiry.");
  const written = text.trim();
  const problem = written === "" ? undefined : ownerExpiryProblem(written, now, maxMs);
  if (problem) throw new Refusal(400, `${problem}.`);
  return withExpiry(list, owner, written);
}
