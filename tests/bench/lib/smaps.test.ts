// Memory from smaps_rollup: this process's figures are consistent, a child's tree counts
// the child, and a process that is gone reads as zero.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { processMemory, treeMemory } from "../../../bench/lib/smaps.ts";

test("this process: USS <= PSS <= RSS, all above zero", async () => {
  const m = await processMemory(process.pid);
  assert.ok(m.uss > 0 && m.uss <= m.pss && m.pss <= m.rss, JSON.stringify(m));
});

test("a tree counts its children; a pid that is gone reads as zero", async (t) => {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  t.after(() => child.kill("SIGKILL"));
  await new Promise((resolve) => child.once("spawn", resolve));
  const own = await processMemory(process.pid);
  const tree = await treeMemory(process.pid);
  assert.equal(tree.processes, 2);
  assert.ok(tree.rss > own.rss, "the child's RSS is added");
  assert.deepEqual(await processMemory(2 ** 22 + 1), { rss: 0, pss: 0, uss: 0 });
});
