// Upstream's dial retry: up to dialErrorLimit failed dials are retried (so limit + 1 tries),
// waiting 100 ms, then 1.5 times longer each time, at most 5 s (Pulumi's retry.Until).
// "Unlimited" (-1) is bounded here: a test rig loop must end.
import { setTimeout as wait } from "node:timers/promises";

/** The tries "unlimited" stands for in the stand-in (about 8 minutes of waiting). */
export const UNLIMITED_TRIES = 100;

/** How many dials to try for a `dialErrorLimit`. */
export function dialTries(dialErrorLimit: number): number {
  return dialErrorLimit < 0 ? UNLIMITED_TRIES : dialErrorLimit + 1;
}

/** The wait before retry number `retry` (1 = the first retry), in ms. */
export function retryDelayMs(retry: number): number {
  return Math.min(100 * 1.5 ** (retry - 1), 5_000);
}

/** One dial: the result once connected, or why dialling failed. */
export type DialOutcome<T> =
  | { readonly dialed: true; readonly value: T }
  | { readonly dialed: false; readonly error: string };

/**
 * Runs `attempt` until it dials, `dialErrorLimit` allowing; rejects with upstream's
 * "after N failed attempts: <last error>". `sleep` is injectable for tests.
 */
export async function withDialRetry<T>(
  dialErrorLimit: number,
  attempt: () => Promise<DialOutcome<T>>,
  signal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<unknown> = (ms, signal) => wait(ms, undefined, { signal }),
): Promise<T> {
  const tries = dialTries(dialErrorLimit);
  let lastError = "";
  for (let tried = 0; tried < tries; tried += 1) {
    if (tried > 0) await sleep(retryDelayMs(tried), signal);
    signal.throwIfAborted();
    const outcome = await attempt();
    if (outcome.dialed) return outcome.value;
    lastError = outcome.error;
  }
  throw new Error(`after ${tries - 1} failed attempts: ${lastError}`);
}
