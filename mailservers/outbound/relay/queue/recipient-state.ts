// Where each recipient of a queued message stands, and the one rule that moves it: the
// live queue applies a remote reply with it, and a restart replays the journal with it,
// so a DSN after a restart says what it would have said without one.
import type { JournalEntry, Reply, ReplyDetail } from "../spool/journal.ts";
import { nextAttempt, type RetryPolicy } from "./retry.ts";
import type { RecipientResult } from "../delivery/send.ts";
import type { SpoolRecord } from "../spool/record.ts";

export type RecipientStatus = "pending" | "deferred" | "delivered" | "bounced";

export interface RecipientState {
  status: RecipientStatus;
  attempts: number;
  /** For "deferred": when to try again. */
  next?: number;
  response?: string;
  code?: number;
  enhanced?: string;
  host?: string;
  expired?: boolean;
  lastAttempt?: number;
  /** A DSN has been queued for this recipient's failure. */
  reported?: boolean;
}

/** A message's recipients as its journal leaves them, and what was reported. */
export interface ReplayedMessage {
  readonly recipients: Map<string, RecipientState>;
  /** DSNs queued so far (their ids are numbered on). */
  readonly dsnCount: number;
  readonly delayNoticeSent: boolean;
}

/** Replays a journal onto fresh recipient states. */
export function replay(record: SpoolRecord, journal: readonly JournalEntry[]): ReplayedMessage {
  const recipients = new Map<string, RecipientState>();
  for (const r of record.recipients) recipients.set(r, { status: "pending", attempts: 0 });
  let dsnCount = 0;
  let delayNoticeSent = false;
  for (const e of journal) {
    if (e.kind === "failure-reported") {
      dsnCount++;
      for (const r of e.recipients) {
        const state = recipients.get(r);
        if (state) state.reported = true;
      }
    } else if (e.kind === "delay-reported") {
      dsnCount++;
      delayNoticeSent = true;
    } else {
      const state = recipients.get(e.recipient);
      if (!state || isFinal(state)) continue;
      applyReply(state, e);
    }
  }
  return { recipients, dsnCount, delayNoticeSent };
}

/** One remote reply applied to its recipient. */
export function applyReply(state: RecipientState, reply: Reply): void {
  state.status = reply.status;
  state.attempts++;
  state.lastAttempt = reply.at;
  state.response = reply.response;
  state.code = reply.code;
  state.enhanced = reply.enhanced;
  state.host = reply.host;
  if (reply.status === "deferred") state.next = reply.next;
  if (reply.status === "bounced" && reply.expired) state.expired = true;
}

/**
 * The journal entry for one delivery result: a temporary failure is retried by the retry
 * table, or bounced as expired once the message is too old to wait longer.
 */
export function replyFor(
  recipient: string,
  result: RecipientResult,
  state: Readonly<RecipientState>,
  retry: RetryPolicy,
  arrival: number,
  at: number,
): Reply {
  const detail: ReplyDetail = {
    response: result.response.slice(0, 1000),
    ...(result.code !== undefined ? { code: result.code } : {}),
    ...(result.enhanced !== undefined ? { enhanced: result.enhanced } : {}),
    ...(result.host !== undefined ? { host: result.host } : {}),
  };
  if (result.status !== "deferred") return { kind: "reply", recipient, status: result.status, at, ...detail };
  const next = nextAttempt(retry, arrival, state.attempts + 1, at);
  if (next === "expired") return { kind: "reply", recipient, status: "bounced", at, expired: true, ...detail };
  return { kind: "reply", recipient, status: "deferred", at, next, ...detail };
}

/** Delivered or bounced: nothing more will be tried. */
export const isFinal = (state: Readonly<RecipientState>): boolean =>
  state.status === "delivered" || state.status === "bounced";

/** Pending, or deferred with its retry time come. */
export const isDue = (state: Readonly<RecipientState>, now: number): boolean =>
  state.status === "pending" || (state.status === "deferred" && (state.next ?? 0) <= now);
