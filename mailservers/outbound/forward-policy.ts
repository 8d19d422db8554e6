// What the forward account (core/forward-secret.ts) may send: inbound alone holds its
// password, and even so it relays only two kinds of mail, never anything else (no open relay):
// - a forward: MAIL FROM an SRS address of ours (core/srs.ts) that verifies, every RCPT the
//   forward target of a live, unexpired mailbox in the users list;
// - a bounce returned to an SRS address of ours: MAIL FROM <>, every RCPT an SRS address that
//   verifies, sent on to the original sender it encodes, still with the null sender.
import type { UsersList } from "../../config/users-list.ts";
import { permFail } from "../core/types.ts";
import type { Srs } from "../core/srs.ts";

export interface ForwardPolicyOptions {
  readonly users: () => UsersList;
  readonly srs: Srs;
  /** Milliseconds since the epoch, for the mailboxes' expiry. */
  readonly now: () => number;
}

export interface ForwardPolicy {
  /** Throws SmtpError unless `address` may be a forward account's MAIL FROM. */
  checkSender(address: string): void;
  /** Throws SmtpError unless `address` may be one of its recipients (a forward target or an SRS address). */
  checkRecipient(address: string): void;
  /** The recipients the spool gets (SRS addresses turned back to the original senders); throws when MAIL FROM and RCPTs do not go together. */
  recipientsOf(mailFrom: string, recipients: readonly string[]): string[];
}

export function createForwardPolicy(options: ForwardPolicyOptions): ForwardPolicy {
  const { srs } = options;
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
      `${what}: the forward account relays only forwards the users list names and bounces to our SRS addresses`,
    );
  return {
    checkSender(address) {
      if (address !== "" && srs.reverse(address) === undefined) throw refused(`Sender <${address}> refused`);
    },
    checkRecipient(address) {
      if (srs.reverse(address) === undefined && !isForwardTarget(address))
        throw refused(`Recipient <${address}> refused`);
    },
    recipientsOf(mailFrom, recipients) {
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
