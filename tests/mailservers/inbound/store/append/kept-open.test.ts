// A file kept open between batches (append/mbox-file.ts): reused by the next message, closed
// on its own when idle and with the store, and never written once its path names another file.
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { readFile, rename, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { folderName } from "../../../../../mailservers/inbound/store/index.ts";
import { until } from "../../../../../testkit/until.ts";
import { deliverSimple, makeMailRoot, makeStore, readMbox } from "../fixture.ts";
import { openUnder } from "../open-files.ts";

test("a file stays open after its batch for the next message, is reused, and is closed with the store", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const inbox = path.join(realpathSync(root), "bob", "INBOX");
  await deliverSimple(store, "bob", "one");
  assert.ok(openUnder(root).includes(inbox), "INBOX is still open");
  await deliverSimple(store, "bob", "two");
  assert.equal(openUnder(root).filter((file) => file === inbox).length, 1, "reused, not opened twice");
  await store.close();
  assert.deepEqual(openUnder(root), [], "closed with the store");
  assert.deepEqual(
    (await readMbox(inbox)).map((m) => m.subject),
    ["one", "two"],
  );
});

test("a file left open is closed on its own once idle", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await deliverSimple(store, "bob", "one");
  assert.notDeepEqual(openUnder(root), []);
  await until(() => openUnder(root).length === 0, "the idle mbox files to be closed");
});

test("a file replaced while kept open (a reader's rewrite and rename) gets the next message, not the old one", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const inbox = path.join(root, "bob", "INBOX");
  await deliverSimple(store, "bob", "one");
  // What Python's mailbox.flush() does: a new file with the content, renamed over the old.
  await writeFile(`${inbox}.new`, await readFile(inbox));
  await rename(`${inbox}.new`, inbox);
  await deliverSimple(store, "bob", "two");
  assert.deepEqual(
    (await readMbox(inbox)).map((m) => m.subject),
    ["one", "two"],
  );
});

test("a folder swapped for a symlink while kept open: neither the old file nor the link's target gets the next message", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const sender = "alice@example.org";
  await deliverSimple(store, "bob", "one", sender);
  const folder = path.join(root, "bob", "mail", folderName("bob@semail.test", sender));
  const outside = path.join(root, "outside");
  await writeFile(outside, "precious\n");
  await rename(folder, `${folder}.old`);
  await symlink(outside, folder);
  await deliverSimple(store, "bob", "two", sender);
  assert.equal(await readFile(outside, "utf8"), "precious\n");
  assert.deepEqual(
    (await readMbox(`${folder}.old`)).map((m) => m.subject),
    ["one"],
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["one", "two"],
  );
});
