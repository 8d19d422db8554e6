// compactHeap reaches V8's collector without --expose-gc, and leaves gc() out of our scope.
import assert from "node:assert/strict";
import { test } from "node:test";
import { compactHeap } from "../../cli/compact-heap.ts";

test("compactHeap collects garbage now and exposes no global gc()", () => {
  let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, text: `garbage ${i}` }));
  const before = process.memoryUsage().heapUsed;
  const objects = garbage.length;
  garbage = undefined;
  compactHeap();
  const after = process.memoryUsage().heapUsed;
  assert.ok(
    before - after > 10 * 1024 ** 2,
    `heap used went from ${before} to ${after} bytes after dropping ${objects} objects`,
  );
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
});
