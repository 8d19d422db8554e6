// One line of a daemon's log (pino JSON) as the traffic summary sees it: the lines the front
// end marks `event: "accepted" | "refused"` and the outbound queue's `event: "delivered" |
// "deferred" | "bounced"` (mailservers/core/front-end.ts, mailservers/outbound/relay/queue/
// queue.ts). Every other line, and any line that is not JSON, is not traffic.

export type TrafficKind = "accepted" | "refused" | "delivered" | "deferred" | "bounced";

export interface TrafficEvent {
  readonly kind: TrafficKind;
  /** "inbound" or "outbound": which daemon wrote it. */
  readonly daemon: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** The SMTP reply code of a refusal (0 when the line has none). */
  readonly code: number;
  /** The reply a refusal gave, or the remote reply of a delivery attempt. */
  readonly reply: string;
  /** accepted: the envelope sender. */
  readonly from: string;
  /** delivered, deferred, bounced: the recipient. */
  readonly to: string;
  /** accepted: the authenticated user, "" for mail from the Internet. */
  readonly user: string;
}

const KINDS = new Set<string>(["accepted", "refused", "delivered", "deferred", "bounced"]);

/** The traffic event a log line records, or undefined. */
export function trafficEvent(line: string): TrafficEvent | undefined {
  // Cheap before JSON.parse: most lines of a busy day are not traffic.
  if (!line.includes('"event":')) return undefined;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof record.event !== "string" || !KINDS.has(record.event) || typeof record.time !== "number") return undefined;
  const text = (key: string) => (typeof record[key] === "string" ? (record[key] as string) : "");
  return {
    kind: record.event as TrafficKind,
    daemon: daemonOf(record),
    time: record.time,
    code: typeof record.code === "number" ? record.code : 0,
    reply: text("reply"),
    from: text("from"),
    to: text("to"),
    user: text("user"),
  };
}

/** In a container the logger is named semail-<daemon>; in local mode each daemon's child says `service`. */
function daemonOf(record: Record<string, unknown>): string {
  if (typeof record.service === "string") return record.service;
  return typeof record.name === "string" ? record.name.replace(/^semail-/, "") : "";
}
