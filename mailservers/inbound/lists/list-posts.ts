// Mail to a list address, for the inbound backend: RCPT (is it a list, may this sender post)
// and DATA (the members' copies, the List-* fields). A list post is alone in its transaction
// (452 4.5.3 asks the client to send other recipients separately, RFC 5321 3.3) so that one
// store commit holds every member's copy: 250 still means stored for every local member, and
// no member gets a second copy from a retry. A member's full or unprovisioned mailbox is left
// out and logged; the others still get theirs. Members on other servers get one copy between
// them, handed to outbound after the local copies are stored, with the list's bounce address
// as envelope sender (remote-copies.ts); 250 only after outbound's 250. The bounce address
// itself takes bounces (list-bounces.ts).
import type { Readable } from "node:stream";
import { pipeline } from "node:stream";
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";
import { asciiLower, reservedRoute } from "../../../config/reserved-names.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { MAIN_HOST } from "../../../config/mailbox-host.ts";
import { permFail, tempFail, type Envelope, type SessionInfo, type SmtpError } from "../../core/types.ts";
import { listMembers } from "../../core/list-members.ts";
import type { MboxStore, StoreTarget } from "../store/index.ts";
import type { ReceiveBounce } from "./list-bounces.ts";
import { PrependHeaders, listHeaders } from "./list-headers.ts";
import { sendRemoteCopies, type ListCopies, type RemoteCopies } from "./remote-copies.ts";
import { postingRefusal, postingUnauthenticated, type SenderAuthentication } from "./posting.ts";
import { SessionSenders } from "./session-senders.ts";

export interface ListPostsOptions {
  /** The lists served now by address (list-table.ts); undefined before the directory was first read. */
  readonly table: () => ReadonlyMap<string, MailingList> | undefined;
  readonly users: () => UsersList;
  readonly managedDomain: string;
  /** This host's name (settings.hostName); absent: MAIN_HOST. */
  readonly hostName?: string;
  readonly store: Pick<MboxStore, "provisioned" | "largestMessage">;
  /** Copies for members on other servers and the bounces they bring back; absent (no outbound.forwardSecretFile): remote members get none. */
  readonly remote?: RemoteCopies & { readonly receiveBounce: ReceiveBounce };
  readonly logger: Logger;
}

/** One message to one list, at DATA. */
export interface ListPost {
  readonly list: MailingList;
  /** The posting rule against MAIL FROM again (the list may have changed since RCPT). */
  readonly refusal: SmtpError | undefined;
  /** The rule against the arrival checks' results (undefined when they did not run). */
  unauthenticated(results: SenderAuthentication | undefined): SmtpError | undefined;
  /** Each local member able to take it, and the remote members; throws when nobody can. */
  copies(): Promise<ListCopies>;
  /**
   * Stores the local copies with `storeLocal` (its failure is thrown as it is), then hands the
   * remote members' copy to outbound; the list's header fields go before `message`. Junk goes
   * to no remote member. Resolves with the 250 text.
   */
  deliver(
    copies: ListCopies,
    message: Readable,
    junk: boolean,
    storeLocal: (targets: readonly StoreTarget[], message: Readable) => Promise<void>,
  ): Promise<string>;
}

export interface ListPosts {
  noteSender(session: SessionInfo, sender: string): void;
  /**
   * At RCPT, for an address no mailbox took (`refusal` is what it would get): true when it is
   * a list the sender may post to; throws the list's refusal; false when it is no list.
   */
  acceptList(address: string, session: SessionInfo, accepted: readonly string[], refusal: SmtpError): boolean;
  /** At RCPT for a mailbox: refuses (452) when a list is among the recipients already. */
  checkNotMixed(accepted: readonly string[]): void;
  /** At DATA: the post, or undefined when no recipient is a list. */
  post(envelope: Envelope): ListPost | undefined;
  /** At DATA: the reader of a bounce to a list's bounce address, or undefined when the recipient is none. */
  bounce(envelope: Envelope): ((message: Readable, reply: (error: unknown) => never) => Promise<string>) | undefined;
}

const lookupKey = (address: string) => asciiLower(address).replace(/\.$/, "");

export function createListPosts(options: ListPostsOptions): ListPosts {
  const { logger } = options;
  const senders = new SessionSenders();
  const listOf = (address: string) => options.table()?.get(lookupKey(address));
  const separately = (list: string) =>
    tempFail(
      452,
      "4.5.3",
      `<${list}> is a mailing list: send it in a transaction of its own (other recipients separately)`,
    );

  const bounces = options.remote?.bounces;
  /**
   * The served list whose bounce address `address` is; undefined when it is not shaped as one;
   * 550 5.1.1 when it is forged, too old or its list is gone (never a mailbox: see the shape).
   */
  const bounceListOf = (address: string): MailingList | undefined => {
    if (!bounces?.looksLike(address)) return undefined;
    const table = options.table();
    if (table === undefined) throw tempFail(451, "4.4.3", "Directory of mailing lists unavailable, try again later");
    const listAddress = bounces.listOf(address);
    const list = listAddress === undefined ? undefined : table.get(listAddress);
    if (!list) throw permFail(550, "5.1.1", "No such address here (a list bounce address that is forged or too old)");
    return list;
  };
  /** The served list a bounce address of ours stands for now, without refusing anything (DATA: RCPT judged it). */
  const servedBounceList = (address: string): MailingList | undefined => {
    const listAddress = bounces?.listOf(address);
    return listAddress === undefined ? undefined : options.table()?.get(listAddress);
  };
  const bounceOnly = (address: string) =>
    permFail(550, "5.7.1", `<${address}> takes only delivery status notifications, from the null sender <>`);
  /** The rule, and no post from a bounce address of ours: a member's server sending a list's copy back in is a loop. */
  const refusalFor = (list: MailingList, sender: string): SmtpError | undefined =>
    bounces?.looksLike(sender)
      ? permFail(550, "5.4.6", `<${list.address}>: routing loop detected (the sender is a list's bounce address)`)
      : postingRefusal(list, sender, options.users());

  async function copies(list: MailingList, envelope: Envelope): Promise<ListCopies> {
    const members = listMembers(list, options.users(), options.managedDomain);
    const log = logger.child({ id: envelope.id, list: list.address });
    const remote = options.remote ? members.remote : [];
    if (!options.remote && members.remote.length > 0)
      log.warn(
        { remote: members.remote },
        "outbound.forwardSecretFile is not set: list members on other servers get no copy",
      );
    if (members.unreachable.length > 0)
      log.warn({ members: members.unreachable }, "list members without a live mailbox here; skipped");
    const taken: StoreTarget[] = [];
    let full = 0;
    const needs = Math.max(1, envelope.declaredSize ?? 1);
    const users = options.users();
    for (const member of members.local) {
      const entry = users.byOwner(member.owner);
      // Per member: one mailbox being set up, full, moving or on another host never fails the post for the rest.
      if (entry && (entry.moving !== undefined || entry.host !== (options.hostName ?? MAIN_HOST))) {
        log.warn(
          { owner: member.owner, host: entry.host, ...(entry.moving ? { moving: entry.moving } : {}) },
          "list member's mailbox is moving or on another host; skipped",
        );
      } else if (!(await options.store.provisioned(member.owner))) {
        log.warn({ owner: member.owner }, "list member's mailbox not provisioned yet; skipped");
      } else if ((await options.store.largestMessage(member.owner, member.quota)) < needs) {
        full++;
        log.warn({ owner: member.owner }, "list member's mailbox full; skipped");
      } else taken.push({ owner: member.owner, recipient: member.recipient, quota: member.quota });
    }
    if (taken.length > 0 || remote.length > 0) return { local: taken, remote };
    if (full > 0) throw tempFail(452, "4.2.2", `<${list.address}>: every member's mailbox is full, try again later`);
    throw permFail(550, "5.1.1", `<${list.address}>: no member of this list has a mailbox here`);
  }

  return {
    noteSender(session, sender) {
      senders.note(session.id, sender);
    },

    acceptList(address, session, accepted, refusal) {
      const local = address.slice(0, address.lastIndexOf("@"));
      // Never a list: another rule refused it, or it is a role name (list-table.ts).
      if (refusal.enhancedCode !== "5.1.1") return false;
      if (bounceListOf(address)) {
        if (accepted.length > 0) throw separately(address);
        const sender = senders.of(session.id);
        if (sender !== undefined && sender !== "") throw bounceOnly(address);
        return true;
      }
      if (reservedRoute(local) !== undefined) return false;
      const table = options.table();
      // The directory was never read: this might be a list, so not a permanent "no".
      if (table === undefined) throw tempFail(451, "4.4.3", "Directory of mailing lists unavailable, try again later");
      const list = table.get(lookupKey(address));
      if (!list) return false;
      if (accepted.some((a) => listOf(a) !== list)) throw separately(list.address);
      const sender = senders.of(session.id);
      const refused = sender === undefined ? undefined : refusalFor(list, sender);
      if (refused) {
        logger.info({ list: list.address, sender, rule: list.rule }, "list post refused");
        throw refused;
      }
      return true;
    },

    checkNotMixed(accepted) {
      const list = accepted.map(listOf).find((l) => l !== undefined);
      if (list) throw separately(list.address);
      const bounce = accepted.find((a) => servedBounceList(a) !== undefined);
      if (bounce) throw separately(bounce);
    },

    post(envelope) {
      senders.forget(envelope.session.id);
      const list = envelope.recipients.map(listOf).find((l) => l !== undefined);
      if (!list) return undefined;
      return {
        list,
        refusal: refusalFor(list, envelope.mailFrom),
        unauthenticated: (results) => postingUnauthenticated(list, envelope.mailFrom, results),
        copies: () => copies(list, envelope),
        async deliver(copies, message, junk, storeLocal) {
          const withHeaders = new PrependHeaders(listHeaders(list));
          pipeline(message, withHeaders, () => {});
          if (copies.remote.length === 0 || junk || !options.remote) {
            if (copies.remote.length > 0)
              logger.info({ id: envelope.id, list: list.address }, "junk: no copy for the members on other servers");
            if (copies.local.length === 0) {
              withHeaders.resume();
              throw permFail(550, "5.7.1", "Message refused: judged junk, and the list has no member here");
            }
            await storeLocal(copies.local, withHeaders);
            return `Ok: stored as ${envelope.id}`;
          }
          return sendRemoteCopies(options.remote, { envelope, list, copies, message: withHeaders, storeLocal, logger });
        },
      };
    },

    bounce(envelope) {
      senders.forget(envelope.session.id);
      // One gone stale since RCPT goes on as any recipient would (and finds no mailbox: 451).
      const list = envelope.recipients.length === 1 ? servedBounceList(envelope.recipients[0]!) : undefined;
      const remote = options.remote;
      if (!list || !remote) return undefined;
      return (message, reply) => {
        if (envelope.mailFrom !== "") {
          message.resume();
          throw bounceOnly(envelope.recipients[0]!);
        }
        return remote.receiveBounce(envelope, list, message, reply);
      };
    },
  };
}
