// The bench's proof that the arrival checks ran: the last message's Authentication-Results,
// and never an earlier message's when the last one has none.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { lastArrivalResults } from "../../../bench/memory/arrival-results.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const message = (header: readonly string[], body = "filler\n") =>
  ["From bench@source.test Mon Dec  7 21:00:00 2026", ...header, "", body].join("\n");

test("the last message's field, folded lines joined; none when the last message has none", async (t) => {
  const dir = await tempDir(t, "semail-arrival-results-");
  const mbox = join(dir, "INBOX");
  const checked = message([
    "Authentication-Results: mx.bench.test;",
    " spf=pass smtp.mailfrom=bench@source.test;",
    "\tdmarc=pass header.from=source.test",
    "Subject: checked",
  ]);
  await writeFile(mbox, checked);
  assert.equal(
    await lastArrivalResults(mbox),
    "Authentication-Results: mx.bench.test; spf=pass smtp.mailfrom=bench@source.test; dmarc=pass header.from=source.test",
  );

  // A body line that looks like the field is not the header's.
  await writeFile(mbox, checked + message(["Subject: unchecked"], "Authentication-Results: spf=pass\n"));
  assert.equal(await lastArrivalResults(mbox), "");

  await writeFile(mbox, checked + message(["Subject: checked too", "Authentication-Results: mx.bench.test; spf=none"]));
  assert.equal(await lastArrivalResults(mbox), "Authentication-Results: mx.bench.test; spf=none");
});
