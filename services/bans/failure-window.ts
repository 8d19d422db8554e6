// Failures per address in a sliding window: the last maxFailures times an address failed,
// so "N failures within the window" is exact at any moment, not per fixed bucket.

export interface FailureWindowOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Bound on memory (a flood of addresses); the longest-quiet ones go first. */
  readonly maxAddresses?: number;
}

export class FailureWindow {
  readonly #times = new Map<string, number[]>();
  readonly #options: FailureWindowOptions;

  constructor(options: FailureWindowOptions) {
    this.#options = options;
  }

  /** Counts `count` failures of `address` at `now`; true when it has maxFailures within the window. */
  add(address: string, count: number, now: number): boolean {
    const { maxFailures, windowMs } = this.#options;
    const times = (this.#times.get(address) ?? []).filter((t) => now - t < windowMs);
    for (let i = 0; i < Math.min(count, maxFailures); i++) times.push(now);
    const kept = times.slice(-maxFailures);
    // Re-inserted last, so the map's first keys are the longest quiet.
    this.#times.delete(address);
    this.#times.set(address, kept);
    for (const oldest of this.#times.keys()) {
      if (this.#times.size <= (this.#options.maxAddresses ?? 100_000)) break;
      this.#times.delete(oldest);
    }
    return kept.length >= maxFailures;
  }

  /** Starts `address` afresh (banned: the failures that banned it are spent). */
  forget(address: string): void {
    this.#times.delete(address);
  }
}
