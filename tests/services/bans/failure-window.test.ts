// maxFailures within a sliding window, not per fixed bucket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FailureWindow } from "../../../services/bans/failure-window.ts";

test("N failures within the window reach the limit; older ones slide out", () => {
  const window = new FailureWindow({ maxFailures: 3, windowMs: 1000 });
  assert.equal(window.add("a", 1, 0), false);
  assert.equal(window.add("a", 1, 600), false);
  assert.equal(window.add("b", 1, 700), false, "another address has its own count");
  assert.equal(window.add("a", 1, 1100), false, "the first slid out at 1000");
  assert.equal(window.add("a", 1, 1500), true, "600, 1100, 1500 are within 1000 ms");
  window.forget("a");
  assert.equal(window.add("a", 1, 1500), false, "forgotten: counting starts again");
  assert.equal(window.add("c", 5, 0), true, "one line may stand for several failures");
});

test("memory is bounded: the longest-quiet address goes first", () => {
  const window = new FailureWindow({ maxFailures: 2, windowMs: 1000, maxAddresses: 2 });
  window.add("a", 1, 0);
  window.add("b", 1, 1);
  window.add("c", 1, 2);
  assert.equal(window.add("a", 1, 3), false, "a was dropped for c: its first failure is gone");
  assert.equal(window.add("c", 1, 4), true, "c was kept");
});
