// The web form's users list file (webform/users-list-file.ts): a request's read
// parses the file only when it is another file or was written to since the last read or
// write through it; every change on disk is seen, and a bad file is refused, not hidden.
import assert from "node:assert/strict";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { UsersListOptions } from "../../config/users-list.ts";
import { silentLogger } from "../../lib/logger.ts";
import { toRaw, UsersListFile } from "../../webform/users-list-file.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const OPTIONS: UsersListOptions = { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 << 20 };
const yaml = (...owners: string[]) =>
  `mailboxes:\n${owners.map((o) => `  - {owner: ${o}, address: ${o}@${o}.semail.test}\n`).join("")}`;
const owners = (list: { mailboxes: ReadonlyArray<{ owner: string }> }) => list.mailboxes.map((m) => m.owner);

test("read parses the list once per version of the file, and sees every change", async (t) => {
  const dir = await tempDir(t, "semail-users-file-");
  const path = join(dir, "users.yaml");
  const file = new UsersListFile(path, OPTIONS, silentLogger());

  assert.deepEqual(owners(await file.read()), [], "no file yet: an empty list");
  await writeFile(path, yaml("alice"));
  const first = await file.read();
  assert.deepEqual(owners(first), ["alice"]);
  assert.equal(await file.read(), first, "the same file: the list already parsed");

  // The same text in another file renamed over it (as an editor or the form writes).
  await writeFile(`${path}.new`, yaml("alice"));
  await rename(`${path}.new`, path);
  const renamed = await file.read();
  assert.notEqual(renamed, first, "another file: parsed again");
  assert.deepEqual(renamed.entries, first.entries);

  // Written in place, longer.
  await writeFile(path, yaml("alice", "bob"));
  assert.deepEqual(owners(await file.read()), ["alice", "bob"]);

  await writeFile(path, "mailboxes: [oops");
  await assert.rejects(file.read(), /users\.yaml/, "a bad file is refused, not hidden behind the last good list");
  await writeFile(path, yaml("bob"));
  assert.deepEqual(owners(await file.read()), ["bob"]);
});

test("a write through update is what the next read gives, without parsing the file again", async (t) => {
  const dir = await tempDir(t, "semail-users-file-");
  const path = join(dir, "users.yaml");
  await writeFile(path, yaml("alice"));
  const file = new UsersListFile(path, OPTIONS, silentLogger());
  const written = await file.update((list) => [
    ...list.entries.map(toRaw),
    { owner: "bob", address: "bob@bob.semail.test", size: 1 << 20 },
  ]);
  assert.equal(await file.read(), written);
  // What a reader of the file parses is the same list.
  const fresh = await new UsersListFile(path, OPTIONS, silentLogger()).read();
  assert.deepEqual(fresh.entries, written.entries);
  assert.deepEqual(owners(fresh), ["alice", "bob"]);
});
