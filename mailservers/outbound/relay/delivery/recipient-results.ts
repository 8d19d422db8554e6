// What the sender reports per recipient, and the one place where a failure's verdict
// (classify.ts: defer or bounce) becomes a recipient's status.
import { classify, type Failure, type FailureKind } from "./classify.ts";
import { oneLine, replyCodes } from "./smtp-reply.ts";

export interface RecipientResult {
  recipient: string;
  status: "delivered" | "deferred" | "bounced";
  /** The remote reply, or our own explanation when there was none. */
  response: string;
  code?: number;
  enhanced?: string;
  /** "mx.example.org [192.0.2.1]" of the host that answered or was tried last. */
  host?: string;
  /** True when the message went over TLS. */
  tls?: boolean;
}

/** A result that is not yet anyone's: the same for every recipient it is given to. */
export type Outcome = Omit<RecipientResult, "recipient">;

/** Where the answer came from. */
export interface Answerer {
  host: string;
  tls: boolean;
}

/** The verdict→status mapping: bounce returns the mail to its sender, defer keeps it queued. */
export function statusOf(failure: Failure): "deferred" | "bounced" {
  return classify(failure) === "bounce" ? "bounced" : "deferred";
}

/** A failure we describe ourselves (no route, no connection, a lost one). */
export function failed(
  kind: FailureKind,
  response: string,
  extra: { code?: number; enhanced?: string; host?: string } = {},
): Outcome {
  return { status: statusOf({ kind, ...extra }), response, ...extra };
}

/** One recipient's result from a server reply: delivered when accepted, else as the reply's codes say. */
export function fromReply(recipient: string, reply: string, accepted: boolean, by: Answerer): RecipientResult {
  const codes = replyCodes(reply);
  return {
    recipient,
    status: accepted ? "delivered" : statusOf({ kind: "smtp", ...codes }),
    response: oneLine(reply),
    ...codes,
    ...by,
  };
}

export function forEveryone(recipients: readonly string[], outcome: Outcome): RecipientResult[] {
  return recipients.map((recipient) => ({ recipient, ...outcome }));
}
