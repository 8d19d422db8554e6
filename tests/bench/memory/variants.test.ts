// A variant changes what the image ships: env set and unset, a node flag added, replaced
// by name, or dropped; a token of no known form is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { leverSpecs, variant } from "../../../bench/memory/variants.ts";

const shipped = {
  nodeFlags: ["--max-semi-space-size=1", "--v8-pool-size=1", "--no-maglev"],
  env: { MALLOC_MMAP_THRESHOLD_: "16384" },
};

test("no tokens: what the image ships", () => {
  assert.deepEqual(variant(shipped, ""), { name: "as shipped", ...shipped });
});

test("env set and unset; a flag replaced by name, one added, one dropped", () => {
  const v = variant(
    shipped,
    "MALLOC_MMAP_THRESHOLD_= MALLOC_ARENA_MAX=2 --max-semi-space-size=4 --max-old-space-size=64 !--no-maglev",
  );
  assert.deepEqual(v.env, { MALLOC_ARENA_MAX: "2" });
  assert.deepEqual(v.nodeFlags, ["--v8-pool-size=1", "--max-semi-space-size=4", "--max-old-space-size=64"]);
  assert.deepEqual(shipped.env, { MALLOC_MMAP_THRESHOLD_: "16384" }, "the shipped launch is not changed");
});

test("a token that is neither env nor flag is refused", () => {
  assert.throws(() => variant(shipped, "MALLOC_ARENA_MAX=2 arena2"), /"arena2" is neither KEY=VALUE/);
});

test("--levers starts with the image as shipped, then the image without its env", () => {
  const specs = leverSpecs(shipped);
  assert.equal(specs[0], "");
  assert.equal(specs[1], "MALLOC_MMAP_THRESHOLD_=");
  assert.equal(leverSpecs({ env: {} })[1], "MALLOC_ARENA_MAX=2", "no env shipped: nothing to unset");
});
