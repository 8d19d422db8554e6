// The one wait: returns once the check holds, fails in bounded time naming what it waited for.
import assert from "node:assert/strict";
import { test } from "node:test";
import { until, untilValue } from "../../testkit/until.ts";

test("until returns as soon as the check holds", async () => {
  let calls = 0;
  await until(() => ++calls === 3, "the third call", 5_000, 1);
  assert.equal(calls, 3);
});

test("until fails after its deadline, naming what did not happen (a function is asked then)", async () => {
  let asked = 0;
  await assert.rejects(
    until(
      () => false,
      () => `the door (asked ${++asked})`,
      30,
      5,
    ),
    /timed out after 30 ms waiting for the door \(asked 1\)/,
  );
  assert.equal(asked, 1);
});

test("until checks once more at the deadline, and an error from the check fails at once", async () => {
  await until(() => true, "an immediate yes", 0);
  await assert.rejects(
    until(() => {
      throw new Error("broken probe");
    }, "never"),
    /broken probe/,
  );
});

test("untilValue returns the first value that is not undefined", async () => {
  let n = 0;
  assert.equal(await untilValue(() => (++n < 3 ? undefined : `value ${n}`), "a value", 5_000, 1), "value 3");
  assert.equal(await untilValue(async () => 0, "a zero"), 0, "falsy values count");
});
