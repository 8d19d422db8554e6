// Which list an address is, against the users list of the moment. One table of truth: the
// users list owns its addresses, so a list whose address is a mailbox's (address, alias or a
// sub-address of one), a reserved role name, on a domain that is neither the managed one nor
// proven by one of its members or owners, or another list's,
// is not served, and says why in the log. The mailbox wins rather than the list: a directory
// edit must never divert a user's mail.
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";
import { reservedRoute } from "../../../config/reserved-names.ts";
import type { UsersList } from "../../../config/users-list.ts";

/** Why `list` cannot be served with `users`, or undefined when it can. */
function conflict(list: MailingList, users: UsersList, managedDomain: string): string | undefined {
  const at = list.address.lastIndexOf("@");
  const local = list.address.slice(0, at);
  const domain = list.address.slice(at + 1);
  // Another domain only when it is proven by one of the list's own members or owners: a group
  // must not take addresses on a user's domain that user has no part in.
  const people = new Set([...list.members, ...list.owners].map((p) => p.uid));
  const proven = users.mailboxes.some(
    (m) => m.domain === domain && m.pendingProof === undefined && people.has(m.owner),
  );
  if (domain !== managedDomain && !proven)
    return `@${domain} is neither the managed domain nor a proven domain of one of the list's members or owners`;
  if (reservedRoute(local) !== undefined) return `${local}@ is a reserved role name`;
  const mailbox = users.byDeliveryAddress(list.address)?.mailbox ?? users.pendingByAddress(list.address);
  if (mailbox) return `it is an address of mailbox ${mailbox.owner}`;
  return undefined;
}

/** The lists served now by address; each one left out is logged once per table. */
export function listTable(
  lists: readonly MailingList[],
  users: UsersList,
  managedDomain: string,
  logger: Logger,
): ReadonlyMap<string, MailingList> {
  const table = new Map<string, MailingList>();
  const clashing = new Set<string>();
  for (const list of lists) {
    const problem = conflict(list, users, managedDomain);
    if (problem) {
      logger.warn({ list: list.dn, address: list.address }, `mailing list not served: ${problem}`);
      continue;
    }
    const other = table.get(list.address);
    if (other) {
      logger.warn(
        { list: list.dn, other: other.dn, address: list.address },
        "two lists share an address: neither is served",
      );
      clashing.add(list.address);
    } else table.set(list.address, list);
  }
  for (const address of clashing) table.delete(address);
  return table;
}

/** Rebuilds the table only when the lists or the users list changed (both are replaced, never mutated). */
export function cachedListTable(
  lists: () => readonly MailingList[] | undefined,
  users: () => UsersList,
  managedDomain: string,
  logger: Logger,
): () => ReadonlyMap<string, MailingList> | undefined {
  let last: { lists: readonly MailingList[]; users: UsersList; table: ReadonlyMap<string, MailingList> } | undefined;
  return () => {
    const nowLists = lists();
    if (nowLists === undefined) return undefined;
    const nowUsers = users();
    if (last?.lists !== nowLists || last.users !== nowUsers)
      last = { lists: nowLists, users: nowUsers, table: listTable(nowLists, nowUsers, managedDomain, logger) };
    return last.table;
  };
}
