// The comparison table names the fastest peer that ran, divides by it, and shows SEMail's
// share of its ceiling; a peer that did not run a shape is a "-", never a zero.
import assert from "node:assert/strict";
import { test } from "node:test";
import { comparisonTable, fastestPeer } from "../../../bench/lib/peer-table.ts";

const row = {
  shape: "20 sessions, 4 KiB, 1 mailbox",
  semail: 900,
  peers: { postfix: 300, exim: 450 },
  ceiling: { semail: 1800, peer: 3000 },
};

test("the ratio is to the fastest peer that ran, and named", () => {
  assert.deepEqual(fastestPeer(row), { name: "exim", rate: 450 });
  assert.equal(fastestPeer({ ...row, peers: {} }), undefined);
  const [, line] = comparisonTable([row], ["postfix", "exim", "opensmtpd"], {
    semail: "ceiling, 2 appends",
    peer: "ceiling, 1 append",
  });
  assert.match(line!, /^20 sessions, 4 KiB, 1 mailbox\s+900\s+300\s+450\s+-\s+2\.00 \(exim\)\s+1800\s+3000\s+0\.50$/);
});

test("without ceiling labels there are no ceiling columns", () => {
  const [header, line] = comparisonTable([{ ...row, peers: { postfix: 300 } }], ["postfix"]);
  assert.doesNotMatch(header!, /ceiling/);
  assert.match(line!, /3\.00 \(postfix\)\s*$/);
});
