// The queue against a wall clock that is set forward or back while timers run in real time
// (as setTimeout does): a due retry runs once, maxAge is judged by the wall clock, and a clock
// set back does not make a deferred recipient wait longer than its delay.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../manual-clock.ts";
import { tempSpool } from "../spool/temp-spool.ts";
import { makeQueue, ok, soft, submit, type Answer } from "./queue-fixtures.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** ManualClock's time is the real (elapsed) time; now() is it plus what the wall clock was set by. */
class SettableWallClock extends ManualClock {
  #offset = 0;
  override now(): number {
    return super.now() + this.#offset;
  }
  /** As setTimeout: the wait is read off the wall clock once, then runs in elapsed time. */
  override at(at: number, fn: () => void): () => void {
    return super.at(at - this.#offset, fn);
  }
  elapsed(): number {
    return super.now();
  }
  set(byMs: number): void {
    this.#offset += byMs;
  }
}

const firstSoft: Answer = (r, a, n) => (n === 1 ? soft(r, a, n) : ok(r, a, n));

describe("queue and a wall clock that jumps", () => {
  it("set back an hour: the retry comes after its 1-minute delay, not an hour later", async (t) => {
    const clock = new SettableWallClock();
    const f = await makeQueue(await tempSpool(t), firstSoft, { clock });
    await submit(f, "alice@semail.test", ["bob@example.net"]);
    await f.queue.idle();
    assert.equal(f.attempts.length, 1);
    clock.set(-HOUR);
    clock.advance(MIN - 1);
    await f.queue.idle();
    assert.equal(f.attempts.length, 1, "no retry before its delay");
    clock.advance(1);
    await f.queue.idle();
    assert.equal(f.attempts.length, 2, "the retry a minute after the first try");
    assert.equal(f.queue.size, 0);
  });

  it("set forward a day: the due retry runs once, and past maxAge (1 h) a failed retry bounces", async (t) => {
    const clock = new SettableWallClock();
    const f = await makeQueue(await tempSpool(t), (r, a, n) => (r.startsWith("bob") ? soft(r, a, n) : ok(r, a, n)), {
      clock,
    });
    await submit(f, "alice@semail.test", ["bob@example.net"]);
    await f.queue.idle();
    clock.set(DAY);
    await f.queue.idle();
    assert.equal(f.attempts.length, 1, "setting the clock wakes nothing by itself");
    clock.advance(MIN);
    await f.queue.idle();
    const toBob = f.attempts.filter((a) => a.job.recipients.includes("bob@example.net"));
    assert.equal(toBob.length, 2, "one retry, not one per missed slot");
    const dsn = f.attempts.filter((a) => a.job.recipients.includes("alice@semail.test"));
    assert.equal(dsn.length, 1, "the sender is told of the bounce");
    assert.match(dsn[0]!.body, /bob@example\.net/);
    assert.equal(f.queue.size, 0);
  });
});
