// The system clock with a wall clock that can be set, as an operator or NTP sets it: now()
// jumps, while timers and elapsed() keep real time, as setTimeout and performance.now() do.
import type { Clock } from "../../lib/clock.ts";

export interface JumpingClock extends Clock {
  /** Sets the wall clock `ms` forward (negative: back). */
  jump(ms: number): void;
}

export function jumpingClock(): JumpingClock {
  let offset = 0;
  const now = () => Date.now() + offset;
  return {
    now,
    elapsed: () => performance.now(),
    // As lib/clock.ts's systemClock: the wait is read off the wall clock once, then runs in real time.
    at(at, fn) {
      const timer = setTimeout(fn, Math.max(0, at - now()));
      return () => clearTimeout(timer);
    },
    jump(ms) {
      offset += ms;
    },
  };
}
