// The one way tests and benchmarks wait: poll a condition until it holds, within a deadline,
// and fail naming what did not happen (never a fixed sleep, never an unbounded loop).

/**
 * Polls `check` every `everyMs` until it resolves true; fails after `ms`, naming `what` (a
 * function is asked only then, e.g. for a daemon's output). Errors from `check` fail at once.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  ms = 10_000,
  everyMs = 20,
): Promise<void> {
  for (const deadline = Date.now() + ms; ; await new Promise((r) => setTimeout(r, everyMs))) {
    if (await check()) return;
    if (Date.now() >= deadline) break;
  }
  throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`);
}

/**
 * Like `until`, for a check that yields a value once ready (`undefined` until then): waits
 * for it and returns it.
 */
export async function untilValue<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string | (() => string),
  ms = 10_000,
  everyMs = 20,
): Promise<T> {
  let value: T | undefined;
  await until(async () => (value = await check()) !== undefined, what, ms, everyMs);
  return value as T;
}
