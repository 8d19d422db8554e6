// Which addresses a user may send as: their own live mailboxes in the users list and their
// sub-addresses (id+tag@), ASCII case-insensitive. One rule for MAIL FROM on both daemons' submission (outbound's, and
// inbound's 587/465, which answers at MAIL instead of after the body) and for the From:
// and Sender: headers outbound checks.
import type { UsersList } from "../../config/users-list.ts";
import { permFail } from "./types.ts";

/** Why `user` may not send as `address`, as the end of a sentence naming it; undefined when it is theirs. */
export function ownAddressProblem(address: string, user: string, users: UsersList): string | undefined {
  // Their sub-addresses too: who hands out alice+shop@ answers from it.
  if (users.byDeliveryAddress(address)?.mailbox.owner === user) return undefined;
  // Named so the owner knows what is missing; a claim proves nothing until its DNS does.
  const pending = users.pendingByAddress(address);
  if (pending?.owner === user) {
    return `is not usable yet: ${user} has not proven control of ${pending.domain} (publish the TXT record the web form shows)`;
  }
  return `is not an address of ${user}`;
}

/** MAIL FROM of an authenticated user: one of their live addresses, never <> (553 5.7.1 otherwise). */
export function checkSubmissionSender(address: string, user: string, users: UsersList): void {
  if (address === "")
    throw permFail(553, "5.7.1", "The null sender <> is for bounces; send from one of your addresses");
  const problem = ownAddressProblem(address, user, users);
  if (problem) throw permFail(553, "5.7.1", `Sender <${address}> ${problem}`);
}
