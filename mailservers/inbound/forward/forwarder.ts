// A forwarding mailbox's mail, and bounces returned to our SRS addresses, handed to outbound
// with the forward account (core/forward-secret.ts) over submission-handoff.ts: 250 only after
// outbound's 250 (spooled there). A forward goes out with an SRS envelope sender of ours
// (core/srs.ts), so SPF holds at its destination, and a bounce comes back to us; a returned
// bounce is handed on with the null sender to the SRS address, which outbound turns back into
// the original sender. The mailbox's copy (keepCopy) is stored first: a forward that then
// fails answers 4xx and a retry may store a second copy, but no mail is ever lost. A list's
// post for its members on other servers goes the same way (lists/remote-copies.ts).
import path from "node:path";
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { MailboxForward } from "../../../config/mailbox-forward.ts";
import { SessionCredentials } from "../../core/credentials.ts";
import { FORWARD_LOGIN, type ForwardSecret } from "../../core/forward-secret.ts";
import type { Srs } from "../../core/srs.ts";
import type { Envelope } from "../../core/types.ts";
import { holdMessage } from "../auth/held-message.ts";
import type { MboxStore, StoreTarget } from "../store/index.ts";
import type { Handoff } from "../submission-handoff.ts";
import { forwardMarker, forwardMarks, loopRefusal } from "./loop-marker.ts";

export interface ForwarderOptions {
  readonly secret: ForwardSecret;
  readonly srs: Srs;
  readonly handoff: Handoff;
  readonly store: MboxStore;
  /** Where a large message waits while it is read twice (the store's temp dir under the mail root). */
  readonly tempDir: string;
  readonly logger: Logger;
}

/** The mailbox a forwarding recipient reaches: where it stores and what its forward says. */
export interface ForwardingTarget extends StoreTarget {
  /** The mailbox's own address, which its loop marker names. */
  readonly mailbox: string;
  readonly forward: MailboxForward;
}

export interface Forwarder {
  /** Stores the copy when asked, then forwards; `reply` turns a store failure into its SMTP error. */
  forward(
    envelope: Envelope,
    target: ForwardingTarget,
    message: Readable,
    reply: (error: unknown) => never,
  ): Promise<string>;
  /** Hands a message for our SRS addresses back to outbound, which sends it to the original senders. */
  returnToSender(envelope: Envelope, message: Readable): Promise<string>;
  /** Hands a list's post to outbound for its members on other servers, from the list's bounce address (lists/remote-copies.ts). */
  relayListPost(
    envelope: Envelope,
    mailFrom: string,
    recipients: readonly string[],
    message: Readable,
  ): Promise<string>;
}

export function createForwarder(options: ForwarderOptions): Forwarder {
  const { srs, handoff, store, logger } = options;
  let sequence = 0;
  const asForwardAccount = (envelope: Envelope, changes: Pick<Envelope, "mailFrom" | "recipients">): Envelope => ({
    ...envelope,
    ...changes,
    session: { ...envelope.session, credentials: new SessionCredentials(FORWARD_LOGIN, options.secret.password) },
  });

  return {
    async forward(envelope, target, message, reply) {
      const held = await holdMessage(message, path.join(options.tempDir, `forward-${process.pid}-${++sequence}`));
      try {
        const refusal = loopRefusal(await forwardMarks(held.stream()), target.mailbox);
        if (refusal) {
          logger.warn({ id: envelope.id, mailbox: target.mailbox }, "forward loop: refused");
          throw refusal;
        }
        if (target.forward.keepCopy) await store.deliver(envelope, [target], held.stream()).catch(reply);
        const marked = Readable.from(
          (async function* () {
            yield Buffer.from(forwardMarker(target.mailbox));
            for await (const chunk of held.stream()) yield chunk as Buffer;
          })(),
          { objectMode: false },
        );
        const sent = asForwardAccount(envelope, {
          mailFrom: srs.forward(envelope.mailFrom),
          recipients: [target.forward.to],
        });
        const answer = await handoff(sent, marked);
        logger.info(
          { id: envelope.id, mailbox: target.mailbox, to: target.forward.to, kept: target.forward.keepCopy },
          "forwarded",
        );
        return answer;
      } finally {
        await held.release();
      }
    },

    returnToSender(envelope, message) {
      return handoff(asForwardAccount(envelope, { mailFrom: "", recipients: envelope.recipients }), message);
    },

    relayListPost(envelope, mailFrom, recipients, message) {
      return handoff(asForwardAccount(envelope, { mailFrom, recipients }), message);
    },
  };
}
