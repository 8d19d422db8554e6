// The outbound queue: schedules spooled messages for delivery per destination domain,
// served round-robin within the concurrency limits, and retries deferred recipients when
// their time comes. Each remote reply is journaled (../spool/journal.ts) before it moves a
// recipient (recipient-state.ts); failures and delays go back to the sender (reports.ts).
// Time comes from an injected Clock, so tests drive retries without sleeping.
import type { Logger } from "pino";
import type { Clock } from "../../../../lib/clock.ts";
import { applyReply, isDue, isFinal, replay, replyFor, type RecipientState } from "./recipient-state.ts";
import { awaitsReport, Reports } from "./reports.ts";
import type { RetryPolicy } from "./retry.ts";
import type { DeliveryJob, RecipientResult } from "../delivery/send.ts";
import type { SpoolRecord } from "../spool/record.ts";
import type { Spool } from "../spool/spool.ts";

export type { DeliveryJob };
export type DeliveryResult = RecipientResult;

/** Sender.deliver (../delivery/send.ts) or a stand-in. A throw is treated as "deferred" for every recipient. */
export type Deliver = (job: DeliveryJob) => Promise<readonly DeliveryResult[]>;

export interface QueueOptions {
  readonly spool: Spool;
  readonly deliver: Deliver;
  readonly clock: Clock;
  readonly retry: RetryPolicy;
  /** Most deliveries at once. */
  readonly concurrency: number;
  /** Most deliveries at once to one domain. */
  readonly perDomainConcurrency: number;
  /** Our host name, for DSNs. */
  readonly hostname: string;
  readonly logger: Logger;
}

interface Entry {
  readonly record: SpoolRecord;
  readonly recipients: Map<string, RecipientState>;
  /** Domains with a delivery in progress. */
  readonly busy: Set<string>;
  dsnCount: number;
  delayNoticeSent: boolean;
  removing: boolean;
  /** Its files are gone from the spool already (its last attempt deleted them). */
  unspooled?: boolean;
  /** Moved out of its segment to wait for a retry (spool.detach). */
  detached?: boolean;
  /** Journal appends and DSN creation for one message run one after another. */
  chain: Promise<void>;
}

export const domainOf = (address: string): string => address.slice(address.lastIndexOf("@") + 1).toLowerCase();

export class Queue {
  readonly #options: QueueOptions;
  readonly #reports: Reports;
  readonly #entries = new Map<string, Entry>();
  /** Ready work: message ids per domain, served round-robin across domains. */
  readonly #ready = new Map<string, string[]>();
  /** "id domain" of everything on the ready lists, so nothing is queued twice. */
  readonly #readyKeys = new Set<string>();
  readonly #active = new Map<string, number>();
  readonly #inflight = new Set<Promise<void>>();
  #running = 0;
  #cancelTimer: (() => void) | undefined;
  #timerAt = Infinity;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];
  /** When each deferred recipient's wait ends on the clock's elapsed(): a wall clock set back must not lengthen it. */
  readonly #waitEnds = new WeakMap<RecipientState, number>();

  constructor(options: QueueOptions) {
    this.#options = options;
    this.#reports = new Reports(options);
  }

  /** Loads every spooled message (after a restart or kill -9) and starts delivering. */
  async start(): Promise<void> {
    for (const id of await this.#options.spool.ids()) {
      try {
        await this.#load(await this.#options.spool.read(id));
      } catch (err) {
        this.#options.logger.error(
          { queueId: id, err: (err as Error).message },
          "cannot load spooled message; left in the spool",
        );
      }
    }
    this.#options.logger.info({ messages: this.#entries.size }, "queue loaded");
    this.#schedule();
  }

  /** Adds a message just written to the spool. */
  async add(record: SpoolRecord): Promise<void> {
    await this.#load(record, true);
    const entry = this.#entries.get(record.id);
    if (entry) this.#enqueue(entry);
    this.#dispatch();
    this.#wakeIdle();
  }

  /** Makes every deferred recipient due now (`semail queue flush`). */
  flush(): void {
    const now = this.#options.clock.now();
    for (const entry of this.#entries.values()) {
      for (const state of entry.recipients.values()) if (state.status === "deferred") state.next = now;
    }
    this.#schedule();
  }

  /** Deletes a message; one being delivered goes once its attempt ends. False if unknown. */
  async remove(id: string): Promise<boolean> {
    const entry = this.#entries.get(id);
    if (!entry) return false;
    entry.removing = true;
    if (entry.busy.size === 0) await this.#drop(entry);
    return true;
  }

  /** Recipient states of a queued message (for tests and logs). */
  state(id: string): ReadonlyMap<string, Readonly<RecipientState>> | undefined {
    return this.#entries.get(id)?.recipients;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Arrival time (ms since the epoch) of the oldest message still queued; undefined when none is. */
  get oldestArrival(): number | undefined {
    let oldest: number | undefined;
    for (const { record } of this.#entries.values())
      if (oldest === undefined || record.arrival < oldest) oldest = record.arrival;
    return oldest;
  }

  /** Resolves when nothing is being delivered and nothing is due now. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Starts no more deliveries (the first step of stopping). */
  pause(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  /** Stops starting deliveries and waits for those in progress (their replies are journaled). */
  async stop(): Promise<void> {
    this.pause();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** `fresh`: just spooled, so its journal is known to be empty. */
  async #load(record: SpoolRecord, fresh = false): Promise<void> {
    if (this.#entries.has(record.id)) return;
    const replayed = replay(record, fresh ? [] : await this.#options.spool.journal(record.id));
    const entry: Entry = { record, ...replayed, busy: new Set(), removing: false, chain: Promise.resolve() };
    this.#entries.set(record.id, entry);
    // A crash may have come between a bounce and its DSN: report it now.
    await this.#report(entry);
    if (this.#finished(entry)) await this.#drop(entry);
    else await this.#setAside(entry);
  }

  #isIdle(): boolean {
    if (this.#running > 0) return false;
    for (const ids of this.#ready.values()) if (ids.length > 0) return false;
    return true;
  }

  /** Rescans every message (start, flush, timer): due work to the ready lists, the timer for the rest. */
  #schedule(): void {
    if (this.#stopped) return;
    for (const entry of this.#entries.values()) this.#enqueue(entry);
    this.#dispatch();
    this.#wakeIdle();
  }

  /** Puts one message's due domains on the ready lists and arms the timer for its next retry. */
  #enqueue(entry: Entry): void {
    if (entry.removing || this.#stopped) return;
    const now = this.#options.clock.now();
    for (const [rcpt, state] of entry.recipients) {
      if (isFinal(state)) continue;
      if (!this.#isDue(state, now)) {
        this.#armTimer(this.#dueAt(state, now));
        continue;
      }
      const domain = domainOf(rcpt);
      const key = `${entry.record.id} ${domain}`;
      if (entry.busy.has(domain) || this.#readyKeys.has(key)) continue;
      this.#readyKeys.add(key);
      const list = this.#ready.get(domain);
      if (list) list.push(entry.record.id);
      else this.#ready.set(domain, [entry.record.id]);
    }
  }

  /**
   * Due by the wall clock (a retry time from the journal, or the clock set forward: the retry
   * runs once, then waits its next delay), or because its wait has run out in elapsed time
   * (the wall clock set back).
   */
  #isDue(state: RecipientState, now: number): boolean {
    if (isDue(state, now)) return true;
    const end = this.#waitEnds.get(state);
    const elapsed = this.#options.clock.elapsed?.();
    return state.status === "deferred" && end !== undefined && elapsed !== undefined && end <= elapsed;
  }

  /** The wall time to wake for a recipient that is not due: its retry time, or sooner if its elapsed wait ends first. */
  #dueAt(state: RecipientState, now: number): number {
    const end = this.#waitEnds.get(state);
    const elapsed = this.#options.clock.elapsed?.();
    const next = state.next ?? now;
    return end === undefined || elapsed === undefined ? next : Math.min(next, now + (end - elapsed));
  }

  /** One timer for the earliest retry; firing early is harmless (the rescan finds nothing due). */
  #armTimer(at: number): void {
    if (at >= this.#timerAt) return;
    this.#cancelTimer?.();
    this.#timerAt = at;
    this.#cancelTimer = this.#options.clock.at(at, () => {
      this.#timerAt = Infinity;
      this.#cancelTimer = undefined;
      this.#schedule();
    });
  }

  #dispatch(): void {
    while (!this.#stopped && this.#running < this.#options.concurrency) {
      let started = false;
      for (const [domain, ids] of this.#ready) {
        if ((this.#active.get(domain) ?? 0) >= this.#options.perDomainConcurrency) continue;
        const id = ids.shift();
        // Round-robin: this domain goes to the back of the line.
        this.#ready.delete(domain);
        if (ids.length > 0) this.#ready.set(domain, ids);
        if (id === undefined) continue;
        this.#readyKeys.delete(`${id} ${domain}`);
        const entry = this.#entries.get(id);
        if (!entry || entry.removing || entry.busy.has(domain)) continue;
        this.#start(entry, domain);
        started = true;
        break;
      }
      if (!started) break;
    }
  }

  #start(entry: Entry, domain: string): void {
    entry.busy.add(domain);
    this.#active.set(domain, (this.#active.get(domain) ?? 0) + 1);
    this.#running++;
    const run = this.#attempt(entry, domain)
      .catch((err: unknown) =>
        this.#options.logger.error(
          { queueId: entry.record.id, domain, err: (err as Error).message },
          "delivery bookkeeping failed; will retry",
        ),
      )
      .finally(() => {
        entry.busy.delete(domain);
        const active = (this.#active.get(domain) ?? 1) - 1;
        if (active > 0) this.#active.set(domain, active);
        else this.#active.delete(domain);
        this.#running--;
        this.#inflight.delete(run);
      })
      .then(async () => {
        if (entry.removing && entry.busy.size === 0) await this.#drop(entry);
        else if (this.#finished(entry)) await this.#drop(entry);
      })
      .catch((err: unknown) =>
        this.#options.logger.error(
          { queueId: entry.record.id, err: (err as Error).message },
          "cannot remove finished message",
        ),
      )
      .finally(() => {
        if (this.#entries.has(entry.record.id)) this.#enqueue(entry);
        this.#dispatch();
        this.#wakeIdle();
      });
    this.#inflight.add(run);
  }

  async #attempt(entry: Entry, domain: string): Promise<void> {
    const { record } = entry;
    const now = this.#options.clock.now();
    const due = [...entry.recipients]
      .filter(([rcpt, s]) => domainOf(rcpt) === domain && this.#isDue(s, now))
      .map(([rcpt]) => rcpt);
    if (due.length === 0) return;
    const log = this.#options.logger.child({ queueId: record.id, domain });
    let results: readonly DeliveryResult[];
    try {
      results = await this.#options.deliver({
        domain,
        mailFrom: record.from,
        recipients: due,
        envelopeId: record.id,
        message: () => this.#options.spool.message(record),
      });
    } catch (err) {
      results = due.map((recipient) => ({
        recipient,
        status: "deferred" as const,
        response: `local error: ${(err as Error).message}`,
      }));
    }
    const byRecipient = new Map<string, DeliveryResult>();
    for (const r of results) byRecipient.set(r.recipient.toLowerCase(), r);

    const at = this.#options.clock.now();
    const elapsedAt = this.#options.clock.elapsed?.();
    const replies = due.map((rcpt) => {
      const result = byRecipient.get(rcpt.toLowerCase()) ?? {
        recipient: rcpt,
        status: "deferred" as const,
        response: "no reply for this recipient",
      };
      return replyFor(rcpt, result, entry.recipients.get(rcpt)!, this.#options.retry, record.arrival, at);
    });
    // Durable before anything acts on it: a crash now resends at most this attempt. When
    // this attempt delivers the last recipients, deleting the message durably says as much.
    const last =
      replies.every((r) => r.status === "delivered") &&
      entry.busy.size === 1 &&
      [...entry.recipients].every(
        ([rcpt, s]) =>
          due.includes(rcpt) || s.status === "delivered" || (s.status === "bounced" && !awaitsReport(record, s)),
      );
    try {
      await this.#serial(entry, () =>
        last ? this.#options.spool.removeDurably(record.id) : this.#options.spool.append(record.id, replies),
      );
      if (last) entry.unspooled = true;
    } catch (err) {
      // Acting on the replies anyway keeps a failing disk from turning into a resend loop;
      // only a crash before the next successful write would repeat this attempt.
      log.error({ err: (err as Error).message }, "cannot write the journal; outcome kept in memory only");
    }
    for (const reply of replies) {
      const state = entry.recipients.get(reply.recipient)!;
      applyReply(state, reply);
      if (reply.status === "deferred" && elapsedAt !== undefined)
        this.#waitEnds.set(state, elapsedAt + reply.next - at);
      log.info(
        {
          to: reply.recipient,
          // `event`: the daily traffic summary counts these lines (services/report/traffic).
          event: reply.status,
          status: reply.status,
          attempts: state.attempts,
          reply: reply.response,
          ...(reply.status === "deferred" ? { next: new Date(reply.next).toISOString() } : {}),
        },
        `recipient ${reply.status}`,
      );
    }
    await this.#report(entry);
    await this.#setAside(entry);
  }

  /** A message that waits for a retry gets a file of its own: its segment can go meanwhile. */
  async #setAside(entry: Entry): Promise<void> {
    if (entry.record.segment === undefined || entry.detached || entry.removing) return;
    if (![...entry.recipients.values()].some((s) => s.status === "deferred")) return;
    entry.detached = true;
    try {
      await this.#serial(entry, async () => void (await this.#options.spool.detach(entry.record)));
    } catch (err) {
      entry.detached = false;
      this.#options.logger.error(
        { queueId: entry.record.id, err: (err as Error).message },
        "cannot move a waiting message out of its segment; it stays there",
      );
    }
  }

  /** Runs journal and DSN work of one message one step at a time. */
  #serial(entry: Entry, step: () => Promise<void>): Promise<void> {
    const next = entry.chain.then(step);
    entry.chain = next.catch(() => undefined);
    return next;
  }

  /** Queues the reports due (failure, delay) and schedules them like any message. */
  #report(entry: Entry): Promise<void> {
    return this.#serial(entry, () =>
      this.#reports.send(entry, async (dsn) => {
        await this.#load(dsn);
        const dsnEntry = this.#entries.get(dsn.id);
        if (dsnEntry) this.#enqueue(dsnEntry);
      }),
    );
  }

  #finished(entry: Entry): boolean {
    if (entry.busy.size > 0) return false;
    for (const s of entry.recipients.values()) if (!isFinal(s) || awaitsReport(entry.record, s)) return false;
    return true;
  }

  async #drop(entry: Entry): Promise<void> {
    if (!this.#entries.has(entry.record.id)) return;
    this.#entries.delete(entry.record.id);
    await entry.chain;
    if (!entry.unspooled) await this.#options.spool.remove(entry.record.id);
    this.#options.logger.info(
      { queueId: entry.record.id, removed: entry.removing },
      entry.removing ? "message removed from the queue" : "message done",
    );
  }

  #wakeIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
