// Counts login attempts in fixed windows, per client IP and per account, so password
// guessing is slow from one address and against one account from many. The web form and
// SMTP AUTH on the outbound daemon both log in against the directory, and both use it.

export interface LimiterOptions {
  /** Attempts allowed per key in one window. */
  readonly limit: number;
  readonly windowMs: number;
  readonly clock: () => number;
  /** Bound on memory; the oldest keys go first. */
  readonly maxKeys?: number;
}

export class WindowLimiter {
  readonly #counts = new Map<string, { start: number; count: number }>();
  readonly #options: LimiterOptions;

  constructor(options: LimiterOptions) {
    this.#options = options;
  }

  #entry(key: string): { start: number; count: number } | undefined {
    const entry = this.#counts.get(key);
    if (entry !== undefined && this.#options.clock() - entry.start >= this.#options.windowMs) {
      this.#counts.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Seconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    const entry = this.#entry(key);
    if (entry === undefined || entry.count < this.#options.limit) return 0;
    return Math.max(1, Math.ceil((entry.start + this.#options.windowMs - this.#options.clock()) / 1000));
  }

  hit(key: string): void {
    const entry = this.#entry(key);
    if (entry !== undefined) {
      entry.count += 1;
      return;
    }
    this.#counts.set(key, { start: this.#options.clock(), count: 1 });
    const max = this.#options.maxKeys ?? 100_000;
    for (const oldest of this.#counts.keys()) {
      if (this.#counts.size <= max) break;
      this.#counts.delete(oldest);
    }
  }

  reset(key: string): void {
    this.#counts.delete(key);
  }
}
