// Found by the spool-journal fuzz target (fuzz/targets/spool-journal.ts): a crash mid-append
// leaves a journal's last line torn; the entries appended after the restart must not be joined
// to it (and lost with it on the next replay, so a delivered recipient would be sent again).
import assert from "node:assert/strict";
import { appendFile, readFile } from "node:fs/promises";
import { it } from "node:test";
import { tempSpool } from "./temp-spool.ts";

it("entries appended after a torn last line are all read back", async (t) => {
  const spool = await tempSpool(t);
  const record = await spool.accept(
    { from: "alice@semail.test", recipients: ["a@example.net", "b@example.net"], arrival: 1 },
    Buffer.from("Subject: q\r\n\r\nx\r\n"),
  );
  await spool.append(record.id, [{ kind: "reply", recipient: "a@example.net", status: "delivered", at: 2 }]);
  // The crash: half of the next line reached the disk.
  await appendFile(spool.logPath(record.id), '{"r":"b@example.net","s":"deli');
  assert.equal((await spool.journal(record.id)).length, 1, "the torn line is skipped");
  await spool.append(record.id, [{ kind: "reply", recipient: "b@example.net", status: "delivered", at: 3 }]);
  assert.deepEqual(
    (await spool.journal(record.id)).map((e) => (e.kind === "reply" ? e.recipient : e.kind)),
    ["a@example.net", "b@example.net"],
    await readFile(spool.logPath(record.id), "utf8"),
  );
});
