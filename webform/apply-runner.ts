// Serialises applies: one at a time, and every request made while one runs is merged
// into the single apply that follows it.
import type { Logger } from "pino";
import type { UsersList } from "../config/users-list.ts";
import type { Applier, ApplyState, ApplyStatus } from "../config/applier.ts";

export interface ApplyRunnerOptions {
  readonly applier: Applier;
  /** Reads the users list at the start of each apply. */
  readonly load: () => Promise<UsersList>;
  readonly logger: Logger;
  readonly clock?: () => number;
}

export class ApplyRunner {
  readonly #applier: Applier;
  readonly #load: () => Promise<UsersList>;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #abort = new AbortController();
  #state: ApplyState = "idle";
  #reason: string | undefined;
  #progress: string | undefined;
  #since: number;
  #requested = 0;
  #applied = 0;
  /** Requests not yet covered by a started apply. */
  #waiting = false;
  #loop: Promise<void> | undefined;

  constructor(options: ApplyRunnerOptions) {
    this.#applier = options.applier;
    this.#load = options.load;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#since = this.#clock();
  }

  /** Asks for an apply; returns at once. */
  request(why: string): void {
    if (this.#abort.signal.aborted) return;
    this.#requested += 1;
    this.#waiting = true;
    this.#logger.info({ why, request: this.#requested, applier: this.#applier.name }, "apply requested");
    if (this.#loop === undefined) {
      this.#set("queued");
      // Start on the next turn so the writes of the same tick share one apply.
      this.#loop = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#run());
    }
  }

  status(): ApplyStatus {
    return {
      state: this.#state,
      ...(this.#reason !== undefined ? { reason: this.#reason } : {}),
      ...(this.#state === "applying" && this.#progress !== undefined ? { progress: this.#progress } : {}),
      pending: this.#state === "applying" && this.#waiting,
      requested: this.#requested,
      applied: this.#applied,
      since: this.#since,
    };
  }

  /** Resolves when no apply runs or waits. */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && this.#loop !== undefined; i += 1) await this.#loop;
  }

  /** Refuses new requests, signals the running apply to stop, waits for it. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.idle();
  }

  async #run(): Promise<void> {
    try {
      while (this.#waiting && !this.#abort.signal.aborted) {
        this.#waiting = false;
        const covers = this.#requested;
        this.#reason = undefined;
        this.#progress = undefined;
        this.#set("applying");
        const started = this.#clock();
        try {
          const list = await this.#load();
          const progress = (line: string) => {
            this.#progress = line.slice(0, 200);
          };
          await this.#applier.apply({ list, logger: this.#logger, signal: this.#abort.signal, progress });
          this.#applied = covers;
          this.#set("done");
          this.#logger.info({ covers, ms: this.#clock() - started }, "apply done");
        } catch (err) {
          this.#reason = plainReason(err);
          this.#set("failed");
          this.#logger.error({ covers, reason: this.#reason }, "apply failed");
        }
      }
    } finally {
      this.#loop = undefined;
    }
  }

  #set(state: ApplyState): void {
    this.#state = state;
    this.#since = this.#clock();
  }
}

/** The first lines of an error message, short enough for a status line. */
export function plainReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const text = message
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 6)
    .join(" / ");
  return (text || "unknown error").slice(0, 600);
}
