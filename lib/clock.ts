// Time, injected so tests move it by hand instead of sleeping: the outbound queue's retries,
// its spool's segment names and idle timer.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once `now()` has reached `at`; returns a function that cancels it. */
  at(at: number, fn: () => void): () => void;
  /**
   * Milliseconds on a clock that only moves forward, at the pace of real time: an operator or
   * NTP setting the wall clock does not move it. Waits measured on it keep their length when
   * now() jumps. Absent (a test's hand-moved clock): waits are measured with now().
   */
  elapsed?(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  elapsed: () => performance.now(),
  at(at, fn) {
    // setTimeout caps at 2^31-1 ms (~24.8 days); longer waits are re-armed.
    const MAX = 2 ** 31 - 1;
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const wait = at - Date.now();
      timer = setTimeout(wait > MAX ? arm : fn, Math.max(0, Math.min(wait, MAX)));
    };
    arm();
    return () => clearTimeout(timer);
  },
};
