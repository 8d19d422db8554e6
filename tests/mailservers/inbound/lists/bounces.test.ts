// The parts of a list's bounce handling without sockets: the failed recipients read from the
// DSN outbound writes, and the counts file (window, reset, bounds).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { createBounceCounts } from "../../../../mailservers/inbound/lists/bounce-counts.ts";
import { dsnFailures, dsnFailuresOf } from "../../../../mailservers/inbound/lists/dsn-failures.ts";
import { buildDsn } from "../../../../mailservers/outbound/relay/queue/dsn.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";

const NOW = Date.parse("2027-03-01T00:00:00Z");

test("reads the failed recipients of a DSN (RFC 3464), not the delayed ones", async () => {
  const dsn = buildDsn({
    sender: "team+bounces=AAAAAAAA=AA@semail.test",
    queueId: "Q1",
    arrival: NOW,
    now: NOW,
    reportingMta: "mx.semail.test",
    originalHeaders: "Subject: hi\r\n",
    recipients: [
      { recipient: "Carol@Remote.test", action: "failed", status: "5.1.1", diagnostic: "550 5.1.1 No such user" },
      { recipient: "later@remote.test", action: "delayed", status: "4.4.1" },
    ],
  });
  const failures = await dsnFailures(Readable.from([Buffer.from(dsn)]));
  assert.deepEqual(failures, [{ recipient: "carol@remote.test", status: "5.1.1", reply: "550 5.1.1 No such user" }]);
  // Another MTA's spelling: quoted boundary, folded field, no Diagnostic-Code, global form.
  const other = [
    "Content-Type: multipart/report;",
    ' report-type=delivery-status; boundary="b=1"',
    "",
    "--b=1",
    "Content-Type: text/plain",
    "",
    "failed",
    "--b=1",
    "Content-Type: message/global-delivery-status",
    "",
    "Reporting-MTA: dns; mx.remote.test",
    "",
    "Original-Recipient: rfc822;x@remote.test",
    "Final-Recipient: rfc822;",
    " <x@remote.test>",
    "Action: Failed",
    "Status: 5.2.2",
    "",
    "--b=1--",
    "",
  ].join("\r\n");
  assert.deepEqual(dsnFailuresOf(other), [{ recipient: "x@remote.test", status: "5.2.2", reply: "5.2.2" }]);
  assert.equal(dsnFailuresOf("Subject: not a report\r\n\r\nhello\r\n"), undefined, "no DSN");
  const delayed = buildDsn({
    reportingMta: "mx.semail.test",
    sender: "team+bounces=AAAAAAAA=AA@semail.test",
    queueId: "Q2",
    arrival: NOW,
    now: NOW,
    originalHeaders: "Subject: hi\r\n",
    recipients: [{ recipient: "later@remote.test", action: "delayed", status: "4.4.1" }],
  });
  assert.deepEqual(dsnFailuresOf(delayed), [], "a delay notice is a DSN with no failure");
});

test("counts a member's failures within the window, forgets them when cleared, and keeps the file bounded per member", async (t) => {
  const dir = await tempDir(t, "semail-bounces-");
  const file = path.join(dir, ".list-bounces.json");
  let now = NOW;
  const counts = createBounceCounts({ file, threshold: 3, windowMs: 10_000, now: () => now });
  assert.equal(await counts.record("team@x", "carol@r", "550 a"), 1);
  now += 6_000;
  assert.equal(await counts.record("team@x", "carol@r", "550 b"), 2);
  assert.equal(await counts.record("other@x", "carol@r", "550 c"), 1, "per list");
  now += 6_000;
  // The first failure is now outside the window.
  assert.equal(await counts.record("team@x", "carol@r", "550 d"), 2);
  assert.equal(await counts.record("team@x", "carol@r", "550 e"), 3);
  assert.equal(await counts.record("team@x", "carol@r", "550 f"), 3, "never more than the threshold kept");
  const saved = JSON.parse(await readFile(file, "utf8")) as Record<string, { times: number[]; reply: string }>;
  assert.equal(saved["team@x carol@r"]?.reply, "550 f");
  await counts.clear("team@x", "carol@r");
  assert.equal(await counts.record("team@x", "carol@r", "550 g"), 1, "counted afresh after a report");
});
