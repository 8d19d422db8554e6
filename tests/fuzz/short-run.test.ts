// The short fuzz pass CI runs: each target under Jazzer.js, coverage-guided, from its committed
// corpus, for a fixed number of executions with a fixed seed (bounded by runs, not by time). A
// property broken here fails the test, and Jazzer.js writes the input to fuzz/regressions/<target>/
// for the replay test to keep.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runTarget } from "../../fuzz/run.ts";
import { TARGETS } from "../../fuzz/targets.ts";

/** Executions per target: a few seconds each. */
const RUNS = 5000;

for (const target of TARGETS) {
  test(`fuzz target ${target.name}: ${RUNS} coverage-guided runs keep its property`, async () => {
    const result = await runTarget(target, { runs: RUNS, seed: 1 });
    assert.equal(result.exitCode, 0, `${target.name}: ${result.findings.join(" ")}\n${result.output.slice(-4000)}`);
    assert.ok(
      result.executions >= RUNS,
      `${target.name} ran ${result.executions} inputs:\n${result.output.slice(-2000)}`,
    );
    assert.ok(result.cov > 0, `${target.name} reached no coverage:\n${result.output.slice(-2000)}`);
  });
}
