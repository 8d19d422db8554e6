// The retry schedule as data: a table of waits plus a cap on the total time in the queue.

export interface RetryPolicy {
  /** Wait after attempt 1, 2, ...; the last entry repeats. */
  readonly delays: readonly number[];
  /** A recipient still undelivered this long after arrival is bounced. */
  readonly maxAge: number;
  /** Send a "delayed" DSN once a recipient has waited this long; 0 = never. */
  readonly delayNotice: number;
}

/** RFC 5321 4.5.4.1 practice: quick first retries, then every 30 minutes, give up after 5 days. */
export const DEFAULT_RETRY: RetryPolicy = {
  delays: [5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000],
  maxAge: 5 * 86_400_000,
  delayNotice: 4 * 3_600_000,
};

/**
 * When to try again after `attempts` failed attempts, or "expired" when that would be
 * past the message's age limit.
 */
export function nextAttempt(policy: RetryPolicy, arrival: number, attempts: number, now: number): number | "expired" {
  const delays = policy.delays.length > 0 ? policy.delays : DEFAULT_RETRY.delays;
  const wait = delays[Math.min(Math.max(attempts, 1), delays.length) - 1]!;
  const next = now + wait;
  if (now - arrival >= policy.maxAge) return "expired";
  // The last try happens at the deadline rather than never.
  return Math.min(next, arrival + policy.maxAge);
}
