// The fault matrix's bookkeeping, by itself: a tally finds a lost, a doubled and an
// unaccepted message, and the table prints every row.
import assert from "node:assert/strict";
import { test } from "node:test";
import { faultTable, parseTableFile } from "../../faults/table.ts";
import { Ledger, countTags, faultTag } from "./ledger.ts";

test("a tally names what was lost, doubled or delivered without a 250", () => {
  const ledger = new Ledger();
  for (const n of [1, 2, 3]) ledger.accepted(faultTag(n));
  ledger.refused(faultTag(4), "452 4.2.2 mailbox full");
  ledger.refused(faultTag(5), "452 4.2.2 mailbox full");
  const arrivals = countTags(["fault-1", "fault-2", "fault-2", "fault-4", "not ours", undefined]);
  const tally = ledger.tally(arrivals);
  assert.deepEqual(
    { ...tally },
    {
      sent: 5,
      accepted: 3,
      delivered: 2,
      lost: 1,
      duplicated: 1,
      lostTags: ["fault-3"],
      duplicatedTags: ["fault-2"],
      unacceptedTags: ["fault-4"],
    },
  );
  assert.equal(ledger.refusalSummary(), "452 4.2.2 ×2");
});

test("the table shows each recorded row and its recovery time", () => {
  const rows = parseTableFile(
    [
      JSON.stringify({
        fault: "disk full",
        sent: 10,
        accepted: 8,
        delivered: 8,
        lost: 0,
        duplicated: 0,
        recoveryMs: 1500,
      }),
      JSON.stringify({
        fault: "slapd down",
        sent: 4,
        accepted: 4,
        delivered: 4,
        lost: 0,
        duplicated: 0,
        recoveryMs: null,
      }),
      "",
    ].join("\n"),
  );
  const table = faultTable(rows).split("\n");
  assert.equal(table.length, 4);
  assert.match(table[2]!, /^\| disk full +\| 10 +\| 8 +\| 8 +\| 0 +\| 0 +\| 1\.5 s/);
  assert.match(table[3]!, /^\| slapd down .*\| - +\|/);
});
