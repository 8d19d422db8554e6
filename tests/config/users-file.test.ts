// Who reads the users list: a watcher re-reads it on change, but takes a list handed to it
// as it is, and leaves alone a text its owner says is applied already (the form's own write).
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { heldUsersList, watchUsersList } from "../../config/users-file.ts";
import { parseUsersList, serializeUsersList, type UsersList } from "../../config/users-list.ts";
import { silentLogger } from "../../lib/logger.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const OPTIONS = { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 << 20 };
const listOf = (...owners: string[]) =>
  parseUsersList(
    `mailboxes: [${owners.map((o) => `{owner: ${o}, address: ${o}@${o}.semail.test}`).join(", ")}]\n`,
    OPTIONS,
  );
const owners = (list: UsersList) => list.mailboxes.map((m) => m.owner);

test("a list handed to reload is taken without reading the file; a known text is not parsed", async (t) => {
  const dir = await tempDir(t, "semail-users-file-");
  const file = join(dir, "users.yaml");
  await writeFile(file, serializeUsersList(listOf("alice").entries));
  const known = serializeUsersList(listOf("alice", "bob").entries);
  const changes: string[][] = [];
  const watch = await watchUsersList(
    file,
    OPTIONS,
    silentLogger(),
    (list) => changes.push(owners(list)),
    (text) => text === known,
  );
  t.after(() => watch.close());

  await watch.reload(listOf("alice", "carol"));
  assert.deepEqual(owners(watch.current()), ["alice", "carol"], "handed over, though the file still says alice alone");

  await writeFile(file, known);
  await watch.reload();
  assert.deepEqual(owners(watch.current()), ["alice", "carol"], "the known text was not parsed into the current list");
  await writeFile(file, serializeUsersList(listOf("dave").entries));
  await watch.reload();
  assert.deepEqual(owners(watch.current()), ["dave"], "another text is read and parsed");
  assert.deepEqual(changes, [["dave"]]);
});

test("a held list is only ever the one last handed over", async () => {
  const held = heldUsersList(listOf("alice"));
  await held.reload();
  assert.deepEqual(owners(held.current()), ["alice"], "nothing to re-read");
  await held.reload(listOf("bob"));
  assert.deepEqual(owners(held.current()), ["bob"]);
});
