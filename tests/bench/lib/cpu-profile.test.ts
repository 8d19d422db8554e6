// Reading a V8 CPU profile: self time per function and per file, idle apart.
import assert from "node:assert/strict";
import { test } from "node:test";
import { summarize } from "../../../bench/lib/cpu-profile.ts";

test("self time is summed per function and per file; idle is counted apart", () => {
  const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });
  const summary = summarize({
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 3, 5] },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("append", "file:///srv/semail/mailservers/inbound/store/mbox-file.ts", 9), children: [4] },
      { id: 4, callFrame: frame("fdatasync") },
      { id: 5, callFrame: frame("append", "file:///srv/semail/mailservers/inbound/store/mbox-file.ts", 9) },
    ],
    samples: [2, 3, 4, 5, 3, 2],
    timeDeltas: [1000, 2000, 3000, 4000, 5000, 6000],
  });
  assert.equal(summary.totalMs, 21);
  assert.equal(summary.idleMs, 7);
  assert.deepEqual(summary.functions[0], ["append mailservers/inbound/store/mbox-file.ts:10", 11]);
  assert.deepEqual(summary.files.find(([file]) => file === "mailservers/inbound/store/mbox-file.ts"), ["mailservers/inbound/store/mbox-file.ts", 11]);
  assert.deepEqual(summary.files.find(([file]) => file === "(fdatasync)"), ["(fdatasync)", 3]);
});
