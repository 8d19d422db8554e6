// Append failures, logged once per mailbox rather than once per message: a failing disk under
// a busy mailbox would otherwise write one error line per message (and per retry) until it is
// fixed. The first failure is logged with its error; the ones after it are only counted, and the
// count is logged when an append to that mailbox succeeds again.
import type { Logger } from "pino";

interface Failing {
  readonly since: number;
  /** Appends (one message into one file) that failed since `since`, the first one included. */
  failedAppends: number;
}

export class FailureLog {
  readonly #logger: Logger;
  /** The mailbox root a file is in: failures are counted per mailbox. */
  readonly #rootOf: (file: string) => string;
  readonly #clock: () => number;
  readonly #failing = new Map<string, Failing>();

  constructor(logger: Logger, rootOf: (file: string) => string, clock: () => number = Date.now) {
    this.#logger = logger;
    this.#rootOf = rootOf;
    this.#clock = clock;
  }

  /** `appends` messages could not be appended to `file` (`what`: the step that failed). */
  failed(file: string, error: unknown, what: string, appends: number): void {
    const root = this.#rootOf(file);
    const failing = this.#failing.get(root);
    if (failing) {
      failing.failedAppends += appends;
      return;
    }
    this.#failing.set(root, { since: this.#clock(), failedAppends: appends });
    this.#logger.error(
      { file, err: error, root },
      `${what}; further failures in this mailbox are counted, not logged, until an append succeeds`,
    );
  }

  /** An append to `file` was kept: its mailbox works again, and the failures it had are told. */
  succeeded(file: string): void {
    if (this.#failing.size === 0) return;
    const root = this.#rootOf(file);
    const failing = this.#failing.get(root);
    if (!failing) return;
    this.#failing.delete(root);
    this.#logger.warn(
      { root, failedAppends: failing.failedAppends, failingMs: this.#clock() - failing.since },
      "appends to this mailbox succeed again",
    );
  }
}
