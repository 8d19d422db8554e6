// Waiting in tests without fixed sleeps: poll a condition until it holds, within a deadline.

/**
 * Polls `check` until it resolves true; fails after `ms`, naming `what` (a function is
 * asked only then, e.g. for a daemon's output). Errors from `check` fail at once.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string | (() => string), ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
}
