// A queued message's journal: one line per event (a remote reply, a DSN queued), appended
// and fsynced before the queue acts on it, replayed after a restart. In the code the
// entries have readable names; on disk they keep the short keys of the first spools, so a
// spool written by an earlier version still replays. This file alone translates the two:
//
//   {"r":rcpt,"s":status,"t":at,"n":next,"x":response,"c":code,"e":enhanced,"h":host,"expired":true}
//   {"ev":"dsn","t":at,"r":[rcpt,...],"id":dsnId}     {"ev":"delayed","t":at,"id":dsnId}

/** What the remote server said (or our own explanation when it said nothing). */
export interface ReplyDetail {
  readonly response?: string;
  readonly code?: number;
  readonly enhanced?: string;
  /** The host that answered or was tried last. */
  readonly host?: string;
}

/** A final reply for one recipient; `expired` when it bounced because its retries ran out. */
export interface FinalReply extends ReplyDetail {
  readonly kind: "reply";
  readonly recipient: string;
  readonly status: "delivered" | "bounced";
  readonly at: number;
  readonly expired?: boolean;
}

/** A temporary failure for one recipient, to be retried at `next`. */
export interface DeferredReply extends ReplyDetail {
  readonly kind: "reply";
  readonly recipient: string;
  readonly status: "deferred";
  readonly at: number;
  readonly next: number;
}

export type Reply = FinalReply | DeferredReply;

/** A failure report (DSN `dsnId`) was queued for these recipients. */
export interface FailureReported {
  readonly kind: "failure-reported";
  readonly at: number;
  readonly recipients: readonly string[];
  readonly dsnId: string;
}

/** The one delay notice (DSN `dsnId`) was queued. */
export interface DelayReported {
  readonly kind: "delay-reported";
  readonly at: number;
  readonly dsnId: string;
}

export type JournalEntry = Reply | FailureReported | DelayReported;

/** One journal line, without its newline. */
export function encodeEntry(entry: JournalEntry): string {
  switch (entry.kind) {
    case "failure-reported":
      return JSON.stringify({ ev: "dsn", t: entry.at, r: entry.recipients, id: entry.dsnId });
    case "delay-reported":
      return JSON.stringify({ ev: "delayed", t: entry.at, id: entry.dsnId });
    case "reply":
      return JSON.stringify({
        r: entry.recipient,
        s: entry.status,
        t: entry.at,
        ...(entry.status === "deferred" ? { n: entry.next } : {}),
        ...(entry.response !== undefined ? { x: entry.response } : {}),
        ...(entry.code !== undefined ? { c: entry.code } : {}),
        ...(entry.enhanced !== undefined ? { e: entry.enhanced } : {}),
        ...(entry.host !== undefined ? { h: entry.host } : {}),
        ...(entry.status !== "deferred" && entry.expired ? { expired: true } : {}),
      });
  }
}

/**
 * What appending `entries` writes to a journal. After a torn last line (a crash mid-append left
 * the file without its final newline) a newline comes first: the torn line stays a line of its
 * own, skipped on replay, instead of swallowing the first new entry with it.
 */
export function appendedText(entries: readonly JournalEntry[], afterTornLine: boolean): string {
  const text = entries.map((e) => `${encodeEntry(e)}\n`).join("");
  return afterTornLine ? `\n${text}` : text;
}

const STATUSES = new Set(["delivered", "bounced", "deferred"]);
const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const number = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** One journal line read back; undefined for a torn line (a crash mid-append) or one we do not know. */
export function decodeLine(line: string): JournalEntry | undefined {
  let raw: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    raw = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const at = number(raw.t) ?? 0;
  if (raw.ev === "dsn") {
    const recipients = Array.isArray(raw.r) ? raw.r.filter((r): r is string => typeof r === "string") : [];
    return { kind: "failure-reported", at, recipients, dsnId: text(raw.id) ?? "" };
  }
  if (raw.ev === "delayed") return { kind: "delay-reported", at, dsnId: text(raw.id) ?? "" };
  if (raw.ev !== undefined) return undefined;
  const recipient = text(raw.r);
  if (recipient === undefined || typeof raw.s !== "string" || !STATUSES.has(raw.s)) return undefined;
  const detail: ReplyDetail = {
    ...(text(raw.x) !== undefined ? { response: text(raw.x) } : {}),
    ...(number(raw.c) !== undefined ? { code: number(raw.c) } : {}),
    ...(text(raw.e) !== undefined ? { enhanced: text(raw.e) } : {}),
    ...(text(raw.h) !== undefined ? { host: text(raw.h) } : {}),
  };
  if (raw.s === "deferred")
    return { kind: "reply", recipient, status: "deferred", at, next: number(raw.n) ?? at, ...detail };
  return {
    kind: "reply",
    recipient,
    status: raw.s as FinalReply["status"],
    at,
    ...(raw.expired === true ? { expired: true } : {}),
    ...detail,
  };
}

/** A journal file's text read back: its entries in order, torn or unknown lines skipped. */
export function decodeJournal(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const entry = decodeLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}
