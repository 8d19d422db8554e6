// writeFileAtomic: the new file replaces the old whole, and when asked it has the old one's
// owner and exact mode from its first moment (a daemon that is not root keeps reading it).
import assert from "node:assert/strict";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

it("replaces a file, with the owner and mode it is given", async (t) => {
  const dir = await tempDir(t, "semail-durable-");
  const file = path.join(dir, "users.yaml");
  await writeFile(file, "old\n");
  const root = process.getuid?.() === 0;
  const owner = root ? { uid: 1234, gid: 1235 } : { uid: process.getuid!(), gid: process.getgid!() };
  const before = process.umask(0o077);
  try {
    await writeFileAtomic(file, "new\n", 0o644, owner);
  } finally {
    process.umask(before);
  }
  const written = await stat(file);
  assert.equal(await readFile(file, "utf8"), "new\n");
  assert.equal(written.mode & 0o7777, 0o644, "the mode asked for, whatever the umask");
  assert.deepEqual([written.uid, written.gid], [owner.uid, owner.gid]);
  assert.deepEqual(await readdir(dir), ["users.yaml"], "no temp file left");
});
