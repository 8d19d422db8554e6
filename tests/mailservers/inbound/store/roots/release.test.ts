// The store letting go of a mailbox's filesystem before it is unmounted, resized or removed
// (MboxStore.release, roots/held-roots.ts): it waits for the commit under way, closes what it
// kept open there at once, and holds that mailbox's deliveries (not the others') until resumed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { MailboxHeldError } from "../../../../../mailservers/inbound/store/index.ts";
import { until } from "../../../../../testkit/until.ts";
import { claimedMarkers, deliverSimple, makeMailRoot, makeStore, readMbox } from "../fixture.ts";
import { openUnder } from "../open-files.ts";

test("release closes the mailbox's kept files at once and holds its deliveries until resumed; other mailboxes go on", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await deliverSimple(store, "bob", "one");
  assert.notDeepEqual(openUnder(path.join(root, "bob")), [], "kept open after the first message");
  const resume = await store.release("bob");
  assert.deepEqual(openUnder(path.join(root, "bob")), [], "nothing open in bob's mailbox once released");

  const events: string[] = [];
  const held = deliverSimple(store, "bob", "two").then(() => void events.push("bob delivered"));
  await deliverSimple(store, "carol", "one");
  events.push("carol delivered");
  assert.deepEqual(openUnder(path.join(root, "bob")), [], "the held delivery opened nothing");
  events.push("resumed");
  resume();
  await held;
  assert.deepEqual(events, ["carol delivered", "resumed", "bob delivered"]);
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["one", "two"],
  );
});

test("release waits for the commit under way in the mailbox", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root, { lockTimeoutMs: 10_000 });
  // Another program's lock keeps the delivery inside its commit until the lock goes.
  const lock = path.join(root, "bob", "INBOX.lock");
  await writeFile(lock, "1\n");
  const delivered = deliverSimple(store, "bob", "one");
  await until(async () => (await claimedMarkers(root).catch(() => [])).length > 0, "the delivery to wait for the lock");
  // What INBOX holds when release answers: the commit under way, whole, if it waited for it.
  const released = store.release("bob").then((resume) => ({
    resume,
    inbox: readFileSync(path.join(root, "bob", "INBOX"), "utf8"),
  }));
  await unlink(lock);
  await delivered;
  const { resume, inbox } = await released;
  resume();
  assert.match(inbox, /^Subject: one$/m, "release answered only after the message was in INBOX");
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["one"],
  );
});

test("a delivery to a mailbox held past the lock wait is refused (MailboxHeldError) with nothing written; after resume it goes in", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root, { lockTimeoutMs: 200 });
  const resume = await store.release("bob");
  await assert.rejects(deliverSimple(store, "bob", "one"), MailboxHeldError);
  assert.deepEqual(await readMbox(path.join(root, "bob", "INBOX")), []);
  resume();
  await deliverSimple(store, "bob", "two");
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["two"],
  );
});
