// The ceiling loop writes what it is told (messages x copies appends of `bytes`, message i
// into mailbox i mod mailboxes, each copy its own file), and the bench's entry point leaves
// nothing behind. The rate is a measurement: only checked to be one.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { appendLoop, diskCeiling } from "../../../bench/lib/disk-ceiling.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("appends each message to each of its mailbox's copies, whole", async (t) => {
  const dir = path.join(await tempDir(t, "semail-ceiling-"), "loop");
  const rate = await appendLoop({ dir, mailboxes: 3, copies: 2, messages: 12, bytes: 100, concurrency: 4 });
  assert.ok(rate > 0 && Number.isFinite(rate));
  const files = (await readdir(dir)).sort();
  assert.deepEqual(files, ["mbox-0-0", "mbox-0-1", "mbox-1-0", "mbox-1-1", "mbox-2-0", "mbox-2-1"]);
  for (const file of files) {
    const text = await readFile(path.join(dir, file), "latin1");
    assert.equal(text.length, 4 * 100, `${file}: 4 messages of 100 bytes`);
    assert.equal(text.match(/^From /gm)?.length, 4);
  }
});

test("diskCeiling runs the loop in a child process and removes its folder", async (t) => {
  const dir = path.join(await tempDir(t, "semail-ceiling-"), "loop");
  const rate = await diskCeiling({ dir, mailboxes: 2, copies: 1, messages: 20, bytes: 4096, concurrency: 5 });
  assert.ok(rate > 0 && Number.isFinite(rate));
  await assert.rejects(readdir(dir), { code: "ENOENT" });
});
