// What the forward account (core/forward-secret.ts) may send: inbound alone holds its
// password, and even so it relays only three kinds of mail, never anything else (no open relay):
// - a forward: MAIL FROM an SRS address of ours (core/srs.ts) that verifies, every RCPT the
//   forward target of a live, unexpired mailbox in the users list;
// - a bounce returned to an SRS address of ours: MAIL FROM <>, every RCPT an SRS address that
//   verifies, sent on to the original sender it encodes, still with the null sender;
// - a list's post: MAIL FROM a bounce address of ours (core/list-bounce-address.ts) that verifies
//   and names a list the directory has now, every RCPT a current member of that list on
//   another server (core/list-members.ts).
import type { MailingList } from "../../config/mailing-lists.ts";
import type { UsersList } from "../../config/users-list.ts";
import { listMembers } from "../core/list-members.ts";
import type { ListBounceAddresses } from "../core/list-bounce-address.ts";
import { permFail, tempFail } from "../core/types.ts";
import type { Srs } from "../core/srs.ts";
import type { DirectoryLists } from "./directory-lists.ts";

export interface ForwardPolicyOptions {
  readonly users: () => UsersList;
  readonly srs: Srs;
  /** Milliseconds since the epoch, for the mailboxes' expiry. */
  readonly now: () => number;
  /** The lists' posts: their bounce addresses, the directory's lists (cached) and the domain members are local to; absent: none. */
  readonly lists?: {
    readonly bounces: ListBounceAddresses;
    readonly read: DirectoryLists;
    readonly managedDomain: string;
  };
}

export interface ForwardPolicy {
  /** Throws SmtpError unless `address` may be a forward account's MAIL FROM. */
  checkSender(address: string): Promise<void>;
  /** Throws SmtpError unless `address` may be one of its recipients (a forward target, an SRS address, a list's remote member). */
  checkRecipient(address: string): Promise<void>;
  /** The recipients the spool gets (SRS addresses turned back to the original senders); throws when MAIL FROM and RCPTs do not go together. */
  recipientsOf(mailFrom: string, recipients: readonly string[]): Promise<string[]>;
}

export function createForwardPolicy(options: ForwardPolicyOptions): ForwardPolicy {
  const { srs, lists } = options;
  const isForwardTarget = (address: string): boolean => {
    const at = address.lastIndexOf("@");
    const wanted = `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
    const now = options.now();
    return options
      .users()
      .mailboxes.some((m) => m.forward?.to === wanted && (m.expires === undefined || m.expires.at > now));
  };
  const refused = (what: string) =>
    permFail(
      550,
      "5.7.1",
      `${what}: the forward account relays only forwards the users list names, bounces to our SRS addresses and lists' posts to their remote members`,
    );
  const directoryLists = async (fresh = false): Promise<readonly MailingList[]> => {
    try {
      return (await lists?.read(fresh)) ?? [];
    } catch {
      throw tempFail(451, "4.4.3", "Directory of mailing lists unavailable, try again later");
    }
  };
  const remoteMembers = (list: MailingList) => new Set(listMembers(list, options.users(), lists!.managedDomain).remote);
  /** The list a bounce address of ours names, when the directory has it now. */
  const listOfSender = async (address: string, fresh = false): Promise<MailingList | undefined> => {
    const listAddress = lists?.bounces.listOf(address);
    if (listAddress === undefined) return undefined;
    return (await directoryLists(fresh)).find((l) => l.address === listAddress);
  };
  const anyRemoteMember = async (address: string, fresh: boolean) =>
    (await directoryLists(fresh)).some((l) => remoteMembers(l).has(lower(address)));
  /** `check` against the cached lists, else against lists read now (a change inbound saw first). */
  const againFresh = async (check: (fresh: boolean) => Promise<boolean>) =>
    (await check(false)) || (lists !== undefined && (await check(true)));
  const lower = (address: string) => address.toLowerCase();
  return {
    async checkSender(address) {
      if (address === "" || srs.reverse(address) !== undefined) return;
      const known = lists?.bounces.listOf(address) !== undefined;
      if (!known || !(await againFresh(async (fresh) => (await listOfSender(address, fresh)) !== undefined)))
        throw refused(`Sender <${address}> refused`);
    },
    async checkRecipient(address) {
      if (srs.reverse(address) !== undefined || isForwardTarget(address)) return;
      // Judged against MAIL FROM's list at DATA (recipientsOf); here only "a remote member of some list".
      if (!lists || !(await againFresh((fresh) => anyRemoteMember(address, fresh))))
        throw refused(`Recipient <${address}> refused`);
    },
    async recipientsOf(mailFrom, recipients) {
      const list = mailFrom === "" ? undefined : await listOfSender(mailFrom);
      if (list) {
        const allMembers = async (fresh: boolean) => {
          const now = fresh ? await listOfSender(mailFrom, true) : list;
          const members = now ? remoteMembers(now) : new Set<string>();
          return recipients.every((r) => members.has(lower(r)));
        };
        if (!(await againFresh(allMembers)))
          throw refused(`A post of <${list.address}> goes to its remote members only`);
        return [...recipients];
      }
      if (mailFrom !== "") {
        if (!recipients.every(isForwardTarget)) throw refused("A forward goes to forward targets only");
        return [...recipients];
      }
      const senders = recipients.map((r) => srs.reverse(r));
      if (senders.some((s) => s === undefined)) throw refused("A returned bounce goes to SRS addresses only");
      return senders as string[];
    },
  };
}
