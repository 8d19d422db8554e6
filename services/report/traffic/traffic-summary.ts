// A day's traffic from the daemons' own log lines, as a Postfix operator gets it from
// pflogsumm: mail received from the Internet and submitted by users, refusals by reply code
// and reason, deliveries, deferrals and bounces, and the busiest senders and destinations.
// Counted from the lines alone (traffic-event.ts): the metrics' counters restart with their
// daemon and so are no day's record.
import { refusalReason } from "./refusal-reason.ts";
import { trafficEvent, type TrafficEvent } from "./traffic-event.ts";

/** A reason and how often it came up, most frequent first. */
export interface Tally {
  readonly reason: string;
  readonly count: number;
}

export interface TrafficSummary {
  readonly since: string;
  readonly until: string;
  /** Messages inbound took from the Internet (unauthenticated sessions). */
  readonly received: number;
  /** Messages outbound took from users (submission, forwards, lists' remote copies). */
  readonly submitted: number;
  /** Refusals at any stage, by "<code> <reason>". */
  readonly refused: readonly Tally[];
  /** Recipients delivered to another server. */
  readonly delivered: number;
  /** Delivery attempts that will be retried, by reason. */
  readonly deferred: readonly Tally[];
  /** Recipients given up on, by reason. */
  readonly bounced: readonly Tally[];
  /** Envelope senders of accepted mail, the busiest first. */
  readonly topSenders: readonly Tally[];
  /** Domains delivered to, the busiest first. */
  readonly topRecipientDomains: readonly Tally[];
}

/** How many senders and domains the summary names. */
const TOP = 5;

/** Counts the traffic of `lines` from `since` (inclusive) to `until` (exclusive). */
export async function summarizeTraffic(
  lines: AsyncIterable<string> | Iterable<string>,
  since: Date,
  until: Date,
): Promise<TrafficSummary> {
  const counts = {
    received: 0,
    submitted: 0,
    delivered: 0,
    refused: new Map<string, number>(),
    deferred: new Map<string, number>(),
    bounced: new Map<string, number>(),
    senders: new Map<string, number>(),
    domains: new Map<string, number>(),
  };
  for await (const line of lines) {
    const event = trafficEvent(line);
    if (event && event.time >= since.getTime() && event.time < until.getTime()) count(counts, event);
  }
  return {
    since: since.toISOString(),
    until: until.toISOString(),
    received: counts.received,
    submitted: counts.submitted,
    refused: tallies(counts.refused),
    delivered: counts.delivered,
    deferred: tallies(counts.deferred),
    bounced: tallies(counts.bounced),
    topSenders: tallies(counts.senders).slice(0, TOP),
    topRecipientDomains: tallies(counts.domains).slice(0, TOP),
  };
}

type Counts = {
  received: number;
  submitted: number;
  delivered: number;
  refused: Map<string, number>;
  deferred: Map<string, number>;
  bounced: Map<string, number>;
  senders: Map<string, number>;
  domains: Map<string, number>;
};

function count(counts: Counts, event: TrafficEvent): void {
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  switch (event.kind) {
    case "accepted":
      // Inbound's authenticated sessions hand their mail to outbound, which counts it there.
      if (event.daemon === "outbound") counts.submitted++;
      else if (event.user === "") counts.received++;
      else return;
      add(counts.senders, event.from === "" ? "<>" : event.from.toLowerCase());
      return;
    case "refused":
      add(counts.refused, `${event.code || "---"} ${refusalReason(event.reply)}`);
      return;
    case "delivered":
      counts.delivered++;
      add(counts.domains, event.to.slice(event.to.lastIndexOf("@") + 1).toLowerCase());
      return;
    case "deferred":
    case "bounced":
      add(counts[event.kind], refusalReason(event.reply));
      return;
  }
}

function tallies(map: Map<string, number>): Tally[] {
  return [...map]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

const total = (list: readonly Tally[]) => list.reduce((sum, t) => sum + t.count, 0);

/** One line for a subject: "3 received, 1 submitted, 4 refused, 1 delivered, 2 deferred, 1 bounced". */
export function trafficHeadline(s: TrafficSummary): string {
  return [
    `${s.received} received`,
    `${s.submitted} submitted`,
    `${total(s.refused)} refused`,
    `${s.delivered} delivered`,
    `${total(s.deferred)} deferred`,
    `${total(s.bounced)} bounced`,
  ].join(", ");
}

/** The table for a person, pflogsumm's order: totals first, then each list. */
export function trafficText(s: TrafficSummary): string {
  const row = (count: number, label: string) => `${String(count).padStart(7)}  ${label}`;
  const section = (title: string, list: readonly Tally[]) =>
    list.length === 0 ? [] : ["", `${title}:`, ...list.map((t) => row(t.count, t.reason))];
  return [
    `Traffic from ${s.since} to ${s.until}`,
    "",
    row(s.received, "received from the Internet"),
    row(s.submitted, "submitted by users"),
    row(total(s.refused), "refused"),
    row(s.delivered, "delivered to other servers"),
    row(total(s.deferred), "deferred (attempts to retry)"),
    row(total(s.bounced), "bounced"),
    ...section("Refused, by reply code and reason", s.refused),
    ...section("Deferred, by reason", s.deferred),
    ...section("Bounced, by reason", s.bounced),
    ...section("Top senders", s.topSenders),
    ...section("Top recipient domains", s.topRecipientDomains),
    "",
  ].join("\n");
}
