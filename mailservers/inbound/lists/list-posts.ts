// Mail to a list address, for the inbound backend: RCPT (is it a list, may this sender post)
// and DATA (the members' copies, the List-* fields). A list post is alone in its transaction
// (452 4.5.3 asks the client to send other recipients separately, RFC 5321 3.3) so that one
// store commit holds every member's copy: 250 still means stored for every local member, and
// no member gets a second copy from a retry. A member's full or unprovisioned mailbox is left
// out and logged; the others still get theirs.
import type { Readable } from "node:stream";
import { pipeline } from "node:stream";
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";
import { asciiLower, reservedRoute } from "../../../config/reserved-names.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { permFail, tempFail, type Envelope, type SessionInfo, type SmtpError } from "../../core/types.ts";
import type { MboxStore, StoreTarget } from "../store/index.ts";
import { PrependHeaders, listHeaders } from "./list-headers.ts";
import { listMembers } from "./members.ts";
import { postingRefusal, postingUnauthenticated, type SenderAuthentication } from "./posting.ts";
import { SessionSenders } from "./session-senders.ts";

export interface ListPostsOptions {
  /** The lists served now by address (list-table.ts); undefined before the directory was first read. */
  readonly table: () => ReadonlyMap<string, MailingList> | undefined;
  readonly users: () => UsersList;
  readonly managedDomain: string;
  readonly store: Pick<MboxStore, "provisioned" | "largestMessage">;
  readonly logger: Logger;
}

/** One message to one list, at DATA. */
export interface ListPost {
  readonly list: MailingList;
  /** The posting rule against MAIL FROM again (the list may have changed since RCPT). */
  readonly refusal: SmtpError | undefined;
  /** The rule against the arrival checks' results (undefined when they did not run). */
  unauthenticated(results: SenderAuthentication | undefined): SmtpError | undefined;
  /** The store targets: each local member able to take it; throws when none is. */
  targets(): Promise<StoreTarget[]>;
  /** The message with the list's header fields before it. */
  withHeaders(message: Readable): Readable;
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

  async function targets(list: MailingList, envelope: Envelope): Promise<StoreTarget[]> {
    const members = listMembers(list, options.users(), options.managedDomain);
    const log = logger.child({ id: envelope.id, list: list.address });
    if (members.remote.length > 0)
      log.warn({ remote: members.remote }, "list members on other servers are not relayed yet; no copy for them");
    if (members.unreachable.length > 0)
      log.warn({ members: members.unreachable }, "list members without a live mailbox here; skipped");
    const taken: StoreTarget[] = [];
    let full = 0;
    const needs = Math.max(1, envelope.declaredSize ?? 1);
    for (const member of members.local) {
      // Per member: one mailbox being set up or full never fails the post for the rest.
      if (!(await options.store.provisioned(member.owner))) {
        log.warn({ owner: member.owner }, "list member's mailbox not provisioned yet; skipped");
      } else if ((await options.store.largestMessage(member.owner, member.quota)) < needs) {
        full++;
        log.warn({ owner: member.owner }, "list member's mailbox full; skipped");
      } else taken.push({ owner: member.owner, recipient: member.recipient, quota: member.quota });
    }
    if (taken.length > 0) return taken;
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
      if (refusal.enhancedCode !== "5.1.1" || reservedRoute(local) !== undefined) return false;
      const table = options.table();
      // The directory was never read: this might be a list, so not a permanent "no".
      if (table === undefined) throw tempFail(451, "4.4.3", "Directory of mailing lists unavailable, try again later");
      const list = table.get(lookupKey(address));
      if (!list) return false;
      if (accepted.some((a) => listOf(a) !== list)) throw separately(list.address);
      const sender = senders.of(session.id);
      const refused = sender === undefined ? undefined : postingRefusal(list, sender, options.users());
      if (refused) {
        logger.info({ list: list.address, sender, rule: list.rule }, "list post refused");
        throw refused;
      }
      return true;
    },

    checkNotMixed(accepted) {
      const list = accepted.map(listOf).find((l) => l !== undefined);
      if (list) throw separately(list.address);
    },

    post(envelope) {
      senders.forget(envelope.session.id);
      const list = envelope.recipients.map(listOf).find((l) => l !== undefined);
      if (!list) return undefined;
      return {
        list,
        refusal: postingRefusal(list, envelope.mailFrom, options.users()),
        unauthenticated: (results) => postingUnauthenticated(list, envelope.mailFrom, results),
        targets: () => targets(list, envelope),
        withHeaders(message) {
          const out = new PrependHeaders(listHeaders(list));
          pipeline(message, out, () => {});
          return out;
        },
      };
    },
  };
}
