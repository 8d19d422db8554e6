// Checks the DNS proof of every pending claim on an external domain, on a schedule with a
// bounded number of tries, and makes the claim live when its TXT record shows up. The
// page reads each claim's state from here; "Check now" asks for one more try at once.
import type { Logger } from "pino";
import type { UsersList } from "../config/users-list.ts";
import type { ProofLookup, ProofVerdict } from "./domain-proof.ts";
import { planProven } from "./mailbox-rules.ts";
import { Refusal } from "./refusal.ts";

/** Waits before each automatic try, after the claim is first seen: 12 tries over about 3 days. */
export const PROOF_SCHEDULE_MS: readonly number[] = [0, 1, 2, 5, 10, 30, 60, 120, 360, 720, 1440, 1440].map(
  (m) => m * 60_000,
);

/** Shortest time between two tries a user asks for, per claim (automatic ones are bounded by the schedule). */
export const CHECK_NOW_INTERVAL_MS = 10_000;

export interface ProofState {
  /** Tries made in the current round. */
  readonly tries: number;
  /** The most tries a round makes by itself. */
  readonly maxTries: number;
  readonly lastCheckedAt?: number;
  readonly verdict?: ProofVerdict;
  /** When the next automatic try is due; absent once the round is over ("Check now" starts another). */
  readonly nextCheckAt?: number;
  /** Why a seen proof could not make the claim live (e.g. another owner went live first). */
  readonly refused?: string;
}

export interface ProofCheckerOptions {
  /** The current list (pending claims are read from it). */
  readonly read: () => Promise<UsersList>;
  /** Rewrites the list with `change`, as the form's other changes do. */
  readonly update: (change: (list: UsersList) => ReturnType<typeof planProven>) => Promise<UsersList>;
  readonly lookup: ProofLookup;
  /** A claim on `domain` went live: apply the list (and look at the domain's MX again). */
  readonly onProven: (owner: string, domain: string) => void;
  readonly logger: Logger;
  /** Wall time (ms since the epoch), for the times the page shows. */
  readonly clock?: () => number;
  /**
   * A clock that only moves forward at the pace of real time (default performance.now, or
   * `clock` when a test gives only that): the schedule and the "Check now" interval are
   * measured on it, so the wall clock set forward or back neither spends the round nor stalls it.
   */
  readonly elapsed?: () => number;
  readonly schedule?: readonly number[];
  /** How often the schedule is looked at (default 15 s). */
  readonly tickMs?: number;
}

/** Times named `...Elapsed` are on the elapsed clock; the others are wall times. */
interface Claim {
  roundStartElapsed: number;
  tries: number;
  lastCheckedAt?: number;
  lastAskedElapsed?: number;
  verdict?: ProofVerdict;
  refused?: string;
  running?: Promise<void>;
}

export class ProofChecker {
  readonly #options: ProofCheckerOptions;
  readonly #clock: () => number;
  readonly #elapsed: () => number;
  readonly #schedule: readonly number[];
  /** Keyed by owner and token, so a claim deleted and made again starts afresh. */
  readonly #claims = new Map<string, Claim>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: ProofCheckerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#elapsed = options.elapsed ?? options.clock ?? (() => performance.now());
    this.#schedule = options.schedule ?? PROOF_SCHEDULE_MS;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), this.#options.tickMs ?? 15_000);
    this.#timer.unref();
    void this.tick();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await Promise.all([...this.#claims.values()].map((c) => c.running));
  }

  /** The state of `owner`'s claim with `token`, as the page shows it. */
  state(owner: string, token: string): ProofState {
    const claim = this.#claims.get(key(owner, token));
    if (!claim) return { tries: 0, maxTries: this.#schedule.length, nextCheckAt: this.#clock() };
    const due = this.#dueAt(claim);
    const next = due === undefined ? undefined : this.#clock() + (due - this.#elapsed());
    return {
      tries: claim.tries,
      maxTries: this.#schedule.length,
      ...(claim.lastCheckedAt !== undefined ? { lastCheckedAt: claim.lastCheckedAt } : {}),
      ...(claim.verdict ? { verdict: claim.verdict } : {}),
      ...(next !== undefined ? { nextCheckAt: next } : {}),
      ...(claim.refused ? { refused: claim.refused } : {}),
    };
  }

  /** Runs the tries that are due; what the timer calls, and tests call directly. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  /**
   * One try now, for the owner's pending claim, and a new round of automatic tries after
   * it. Refused when the last try is too recent (a button must not flood the resolver).
   */
  async checkNow(owner: string): Promise<ProofState> {
    const list = await this.#options.read();
    const mailbox = list.byOwner(owner);
    if (!mailbox?.pendingProof) throw new Refusal(409, "Your mailbox is not waiting for a proof.");
    const claim = this.#claim(owner, mailbox.pendingProof);
    const since = claim.lastAskedElapsed === undefined ? Infinity : this.#elapsed() - claim.lastAskedElapsed;
    if (since < CHECK_NOW_INTERVAL_MS) {
      throw new Refusal(
        429,
        `You asked for a check ${Math.round(since / 1000)} s ago; wait ${Math.ceil((CHECK_NOW_INTERVAL_MS - since) / 1000)} s before checking again.`,
      );
    }
    claim.lastAskedElapsed = this.#elapsed();
    claim.roundStartElapsed = this.#elapsed();
    claim.tries = 0;
    await this.#try(owner, mailbox.pendingProof, mailbox.domain, claim);
    return this.state(owner, mailbox.pendingProof);
  }

  async #tick(): Promise<void> {
    let list: UsersList;
    try {
      list = await this.#options.read();
    } catch (err) {
      this.#options.logger.error({ err: (err as Error).message }, "proof check: cannot read the users list");
      return;
    }
    const current = new Set<string>();
    const due: Array<Promise<void>> = [];
    for (const m of list.pending) {
      const id = key(m.owner, m.pendingProof!);
      current.add(id);
      const claim = this.#claim(m.owner, m.pendingProof!);
      const at = this.#dueAt(claim);
      if (at !== undefined && at <= this.#elapsed()) due.push(this.#try(m.owner, m.pendingProof!, m.domain, claim));
    }
    // Claims that went live or were deleted need no more state.
    for (const id of this.#claims.keys()) if (!current.has(id)) this.#claims.delete(id);
    await Promise.all(due);
  }

  #claim(owner: string, token: string): Claim {
    const id = key(owner, token);
    let claim = this.#claims.get(id);
    if (!claim) {
      claim = { roundStartElapsed: this.#elapsed(), tries: 0 };
      this.#claims.set(id, claim);
    }
    return claim;
  }

  /** When (elapsed clock) the claim's next automatic try is due, or undefined once its round is over. */
  #dueAt(claim: Claim): number | undefined {
    if (claim.verdict?.state === "proven" && !claim.refused) return undefined;
    const wait = this.#schedule[claim.tries];
    return wait === undefined ? undefined : claim.roundStartElapsed + wait;
  }

  #try(owner: string, token: string, domain: string, claim: Claim): Promise<void> {
    claim.running ??= this.#lookupAndApply(owner, token, domain, claim).finally(() => (claim.running = undefined));
    return claim.running;
  }

  async #lookupAndApply(owner: string, token: string, domain: string, claim: Claim): Promise<void> {
    const { logger } = this.#options;
    claim.tries++;
    claim.verdict = await this.#options.lookup(domain, token);
    claim.lastCheckedAt = this.#clock();
    logger.info({ owner, domain, verdict: claim.verdict.state, tries: claim.tries }, "domain proof checked");
    if (claim.verdict.state !== "proven") return;
    try {
      await this.#options.update((list) => planProven(list, owner, token));
      claim.refused = undefined;
    } catch (err) {
      // Left for the next try: a timer has nobody to throw to.
      claim.refused =
        err instanceof Refusal
          ? err.message
          : `the users list could not be written (${(err as Error).message}); it will be tried again`;
      logger.warn({ owner, domain, reason: claim.refused }, "domain proven but the claim cannot go live");
      return;
    }
    logger.info({ owner, domain }, "domain proven: mailbox is live");
    this.#options.onProven(owner, domain);
  }
}

function key(owner: string, token: string): string {
  return `${owner}\n${token}`;
}
