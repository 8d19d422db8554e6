// The outbound queue: schedules spooled messages for delivery per destination domain,
// journals every remote reply before acting on it, retries deferred recipients by the
// retry table, and returns failures to the sender as DSNs. Time comes from an injected
// Clock, so tests drive retries without sleeping.
import type { Logger } from "pino";
import type { Clock } from "./clock.ts";
import { buildDsn, statusFor, type DsnRecipient } from "./dsn.ts";
import { nextAttempt, type RetryPolicy } from "./retry.ts";
import type { DeliveryJob, RecipientResult } from "./send.ts";
import type { JournalEntry, Spool, SpoolRecord } from "./spool.ts";

export type { DeliveryJob };
export type DeliveryResult = RecipientResult;

/** Sender.deliver (send.ts) or a stand-in. A throw is treated as "deferred" for every recipient. */
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

interface Entry {
  readonly record: SpoolRecord;
  readonly recipients: Map<string, RecipientState>;
  /** Domains with a delivery in progress. */
  readonly busy: Set<string>;
  dsnCount: number;
  delayNoticeSent: boolean;
  removing: boolean;
  /** Journal appends and DSN creation for one message run one after another. */
  chain: Promise<void>;
}

export const domainOf = (address: string): string => address.slice(address.lastIndexOf("@") + 1).toLowerCase();

/** Replays a journal onto fresh recipient states. */
export function replay(record: SpoolRecord, journal: readonly JournalEntry[]): { recipients: Map<string, RecipientState>; dsnCount: number; delayNoticeSent: boolean } {
  const recipients = new Map<string, RecipientState>();
  for (const r of record.recipients) recipients.set(r, { status: "pending", attempts: 0 });
  let dsnCount = 0;
  let delayNoticeSent = false;
  for (const e of journal) {
    if ("ev" in e) {
      if (e.ev === "dsn") {
        dsnCount++;
        for (const r of e.r) {
          const state = recipients.get(r);
          if (state) state.reported = true;
        }
      } else if (e.ev === "delayed") {
        dsnCount++;
        delayNoticeSent = true;
      }
      continue;
    }
    const state = recipients.get(e.r);
    if (!state || state.status === "delivered" || state.status === "bounced") continue;
    applyReply(state, e);
  }
  return { recipients, dsnCount, delayNoticeSent };
}

/**
 * One remote reply, as the live queue records it and as a restart replays it from the
 * journal: the same rule both ways, so a DSN after a restart says what it would have said.
 */
function applyReply(state: RecipientState, e: Exclude<JournalEntry, { ev: string }>): void {
  state.status = e.s;
  state.attempts++;
  state.lastAttempt = e.t;
  state.response = e.x;
  state.code = e.c;
  state.enhanced = e.e;
  state.host = e.h;
  if (e.s === "deferred") state.next = e.n;
  if (e.s === "bounced" && e.expired) state.expired = true;
}

function dsnRecipient(recipient: string, s: RecipientState, action: DsnRecipient["action"]): DsnRecipient {
  return {
    recipient,
    action,
    status: statusFor(s),
    ...(s.response ? { diagnostic: s.response } : {}),
    ...(s.host ? { remoteMta: s.host } : {}),
    ...(s.lastAttempt ? { lastAttempt: s.lastAttempt } : {}),
  };
}

export class Queue {
  readonly #o: QueueOptions;
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

  constructor(options: QueueOptions) {
    this.#o = options;
  }

  /** Loads every spooled message (after a restart or kill -9) and starts delivering. */
  async start(): Promise<void> {
    for (const id of await this.#o.spool.ids()) {
      try {
        await this.#load(await this.#o.spool.read(id));
      } catch (err) {
        this.#o.logger.error({ queueId: id, err: (err as Error).message }, "cannot load spooled message; left in the spool");
      }
    }
    this.#o.logger.info({ messages: this.#entries.size }, "queue loaded");
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
    const now = this.#o.clock.now();
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
    const replayed = replay(record, fresh ? [] : await this.#o.spool.journal(record.id));
    const entry: Entry = { record, ...replayed, busy: new Set(), removing: false, chain: Promise.resolve() };
    this.#entries.set(record.id, entry);
    // A crash may have come between a bounce and its DSN: report it now.
    await this.#report(entry);
    if (this.#finished(entry)) await this.#drop(entry);
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
    const now = this.#o.clock.now();
    for (const [rcpt, state] of entry.recipients) {
      if (state.status === "delivered" || state.status === "bounced") continue;
      if (state.status === "deferred" && (state.next ?? 0) > now) {
        this.#armTimer(state.next!);
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

  /** One timer for the earliest retry; firing early is harmless (the rescan finds nothing due). */
  #armTimer(at: number): void {
    if (at >= this.#timerAt) return;
    this.#cancelTimer?.();
    this.#timerAt = at;
    this.#cancelTimer = this.#o.clock.at(at, () => {
      this.#timerAt = Infinity;
      this.#cancelTimer = undefined;
      this.#schedule();
    });
  }

  #dispatch(): void {
    while (!this.#stopped && this.#running < this.#o.concurrency) {
      let started = false;
      for (const [domain, ids] of this.#ready) {
        if ((this.#active.get(domain) ?? 0) >= this.#o.perDomainConcurrency) continue;
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
      .catch((err: unknown) => this.#o.logger.error({ queueId: entry.record.id, domain, err: (err as Error).message }, "delivery bookkeeping failed; will retry"))
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
      .catch((err: unknown) => this.#o.logger.error({ queueId: entry.record.id, err: (err as Error).message }, "cannot remove finished message"))
      .finally(() => {
        if (this.#entries.has(entry.record.id)) this.#enqueue(entry);
        this.#dispatch();
        this.#wakeIdle();
      });
    this.#inflight.add(run);
  }

  async #attempt(entry: Entry, domain: string): Promise<void> {
    const { record } = entry;
    const now = this.#o.clock.now();
    const due = [...entry.recipients].filter(
      ([rcpt, s]) => domainOf(rcpt) === domain && (s.status === "pending" || (s.status === "deferred" && (s.next ?? 0) <= now)),
    ).map(([rcpt]) => rcpt);
    if (due.length === 0) return;
    const log = this.#o.logger.child({ queueId: record.id, domain });
    let results: readonly DeliveryResult[];
    try {
      results = await this.#o.deliver({
        domain,
        mailFrom: record.from,
        recipients: due,
        envelopeId: record.id,
        message: () => this.#o.spool.message(record),
      });
    } catch (err) {
      results = due.map((recipient) => ({ recipient, status: "deferred" as const, response: `local error: ${(err as Error).message}` }));
    }
    const byRecipient = new Map<string, DeliveryResult>();
    for (const r of results) byRecipient.set(r.recipient.toLowerCase(), r);

    const at = this.#o.clock.now();
    const entries: JournalEntry[] = [];
    for (const rcpt of due) {
      const result = byRecipient.get(rcpt.toLowerCase()) ?? { recipient: rcpt, status: "deferred" as const, response: "no reply for this recipient" };
      const state = entry.recipients.get(rcpt)!;
      const detail = {
        x: result.response.slice(0, 1000),
        ...(result.code !== undefined ? { c: result.code } : {}),
        ...(result.enhanced !== undefined ? { e: result.enhanced } : {}),
        ...(result.host !== undefined ? { h: result.host } : {}),
      };
      if (result.status === "deferred") {
        const next = nextAttempt(this.#o.retry, record.arrival, state.attempts + 1, at);
        entries.push(next === "expired" ? { r: rcpt, s: "bounced", t: at, expired: true, ...detail } : { r: rcpt, s: "deferred", t: at, n: next, ...detail });
      } else {
        entries.push({ r: rcpt, s: result.status, t: at, ...detail });
      }
    }
    // Durable before anything acts on it: a crash now resends at most this attempt. When
    // this attempt delivers the last recipients, deleting the message durably says as much.
    const last = entries.every((e) => "s" in e && e.s === "delivered") && entry.busy.size === 1 &&
      [...entry.recipients].every(([rcpt, s]) => due.includes(rcpt) || s.status === "delivered" || (s.status === "bounced" && (s.reported || record.from === "" || record.dsn === true)));
    try {
      await this.#serial(entry, () => (last ? this.#o.spool.removeDurably(record.id) : this.#o.spool.append(record.id, entries)));
    } catch (err) {
      // Acting on the replies anyway keeps a failing disk from turning into a resend loop;
      // only a crash before the next successful write would repeat this attempt.
      log.error({ err: (err as Error).message }, "cannot write the journal; outcome kept in memory only");
    }
    for (const e of entries) {
      if ("ev" in e) continue;
      const state = entry.recipients.get(e.r)!;
      applyReply(state, e);
      log.info({ to: e.r, status: e.s, attempts: state.attempts, reply: e.x, ...(e.s === "deferred" ? { next: new Date(e.n).toISOString() } : {}) }, `recipient ${e.s}`);
    }
    await this.#report(entry);
  }

  /** Runs journal and DSN work of one message one step at a time. */
  #serial(entry: Entry, step: () => Promise<void>): Promise<void> {
    const next = entry.chain.then(step);
    entry.chain = next.catch(() => undefined);
    return next;
  }

  /** Queues a DSN for bounced recipients not yet reported, and a delay notice when due. */
  #report(entry: Entry): Promise<void> {
    return this.#serial(entry, async () => {
      const { record } = entry;
      // Never a bounce to <> and never a DSN about a DSN.
      if (record.from === "" || record.dsn) return;
      const now = this.#o.clock.now();
      const failed = [...entry.recipients].filter(([, s]) => s.status === "bounced" && !s.reported);
      if (failed.length > 0) {
        const id = await this.#queueDsn(entry, failed.map(([rcpt, s]) => dsnRecipient(rcpt, s, "failed")));
        await this.#o.spool.append(record.id, [{ ev: "dsn", t: now, r: failed.map(([rcpt]) => rcpt), id }]);
        for (const [, s] of failed) s.reported = true;
      }
      const notice = this.#o.retry.delayNotice;
      const deferred = [...entry.recipients].filter(([, s]) => s.status === "deferred");
      if (notice > 0 && !entry.delayNoticeSent && deferred.length > 0 && now - record.arrival >= notice) {
        const until = record.arrival + this.#o.retry.maxAge;
        const id = await this.#queueDsn(entry, deferred.map(([rcpt, s]) => ({ ...dsnRecipient(rcpt, s, "delayed"), willRetryUntil: until })));
        await this.#o.spool.append(record.id, [{ ev: "delayed", t: now, id }]);
        entry.delayNoticeSent = true;
      }
    });
  }

  /** Spools a DSN to the sender under a deterministic id (`<id>B<n>`): a crash cannot queue it twice. */
  async #queueDsn(entry: Entry, recipients: DsnRecipient[]): Promise<string> {
    const { record } = entry;
    const now = this.#o.clock.now();
    const id = `${record.id}B${entry.dsnCount + 1}`;
    const text = buildDsn({
      reportingMta: this.#o.hostname,
      sender: record.from,
      queueId: record.id,
      arrival: record.arrival,
      now,
      recipients,
      originalHeaders: await this.#o.spool.headers(record),
    });
    const dsn = await this.#o.spool.accept({ from: "", recipients: [record.from], arrival: now, dsn: true }, Buffer.from(text), id);
    entry.dsnCount++;
    this.#o.logger.info({ queueId: record.id, dsn: id, to: record.from, action: recipients[0]?.action }, "DSN queued");
    await this.#load(dsn);
    const dsnEntry = this.#entries.get(dsn.id);
    if (dsnEntry) this.#enqueue(dsnEntry);
    return id;
  }

  #finished(entry: Entry): boolean {
    if (entry.busy.size > 0) return false;
    for (const s of entry.recipients.values()) {
      if (s.status === "pending" || s.status === "deferred") return false;
      if (s.status === "bounced" && !s.reported && entry.record.from !== "" && !entry.record.dsn) return false;
    }
    return true;
  }

  async #drop(entry: Entry): Promise<void> {
    if (!this.#entries.has(entry.record.id)) return;
    this.#entries.delete(entry.record.id);
    await entry.chain;
    await this.#o.spool.remove(entry.record.id);
    this.#o.logger.info({ queueId: entry.record.id, removed: entry.removing }, entry.removing ? "message removed from the queue" : "message done");
  }

  #wakeIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
