// Folder names from hostile envelope addresses: safe as a file name, and one-to-one.
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { MAX_FOLDER_NAME, folderName, parseFolderName } from "../../mailservers/store/index.ts";
import { claimedMarkers, tempFiles, makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, simpleMessage, target } from "./fixture.ts";

const RECIPIENT = "bob@semail.test";

const hostile = [
  "../../etc/passwd@x",
  "..@x",
  ".hidden@x",
  "a..b@x",
  "/abs/path@x",
  "a/b@x",
  "a,b@x",
  "a=2cb@x",
  "a%2fb@x",
  "x".repeat(300) + "@example.org",
  "y".repeat(300) + "@example.org",
  "x".repeat(299) + "z@example.org",
  "élodie@exämple.org",
  "日本@例え.jp",
  '"quoted local"@x',
  "'single'@x",
  "nul\u0000byte@x",
  "ctrl\r\nBcc: evil@x",
  "tab\there@x",
  "~tilde@x",
  "star*%?@x",
  "amp&mutf7@x",
  "x.lock",
  "y@x.lock",
  "y@x.LOCK",
  "y@x=2elock",
  "=null-sender",
  "mailer-daemon",
  "",
  ".",
  "..",
];

test("every hostile sender gives a safe file name", () => {
  for (const sender of hostile) {
    const name = folderName(RECIPIENT, sender);
    const why = `${JSON.stringify(sender)} -> ${JSON.stringify(name)}`;
    assert.ok(Buffer.byteLength(name) <= MAX_FOLDER_NAME, why);
    assert.equal(name, name.toLowerCase(), why);
    assert.ok(!name.includes("/") && !name.includes(".."), why);
    assert.ok(!name.startsWith("."), why);
    assert.ok(!/[\x00-\x20\x7f-\uffff&*%?'"\\]/.test(name), why);
    assert.ok(!name.endsWith(".lock"), why);
    assert.equal(path.basename(name), name, why);
  }
});

test("names are one-to-one: distinct pairs never share a name, and short names parse back", () => {
  const recipients = [RECIPIENT, "postmaster@semail.test", "bob@semail.test,x", "bob@semail.test.lock"];
  const seen = new Map<string, string>();
  for (const recipient of recipients) {
    for (const sender of hostile) {
      const name = folderName(recipient, sender);
      const pair = JSON.stringify([recipient.toLowerCase(), sender.toLowerCase()]);
      const before = seen.get(name);
      assert.ok(before === undefined || before === pair, `${pair} and ${before} both map to ${name}`);
      seen.set(name, pair);
      if (!name.includes("~")) assert.deepEqual(parseFolderName(name), { recipient: recipient.toLowerCase(), sender: sender.toLowerCase() });
    }
  }
  const pairs = new Set(recipients.flatMap((r) => hostile.map((s) => JSON.stringify([r.toLowerCase(), s.toLowerCase()]))));
  assert.equal(seen.size, pairs.size);
  assert.ok(pairs.size > 100);
});

test("ASCII case is folded: uppercase variants of an address share the lowercase folder", () => {
  assert.equal(folderName("Bob@SEMAIL.test", "Alice@Example.ORG"), "bob@semail.test,alice@example.org");
  assert.equal(folderName(RECIPIENT, "ALICE@example.org"), folderName(RECIPIENT, "alice@EXAMPLE.org"));
  // Non-ASCII letters are not folded: they are escaped byte for byte, so they stay distinct.
  assert.notEqual(folderName(RECIPIENT, "É@x"), folderName(RECIPIENT, "é@x"));
});

test("readable where possible; the null sender is explicit; long names are shortened with a hash", () => {
  assert.equal(folderName(RECIPIENT, "alice+tag@example.org"), "bob@semail.test,alice+tag@example.org");
  assert.equal(folderName(RECIPIENT, ""), "bob@semail.test,=null-sender");
  assert.equal(folderName(RECIPIENT, "../../etc/passwd@x"), "bob@semail.test,=2e=2e=2f.=2e=2fetc=2fpasswd@x");
  const long = folderName(RECIPIENT, "x".repeat(300) + "@example.org");
  assert.equal(long.length, MAX_FOLDER_NAME);
  assert.match(long, /^bob@semail\.test,x+~[0-9a-f]{24}$/);
  assert.equal(parseFolderName(long), undefined);
});

test("mail from hostile senders is stored inside the mailbox, one readable folder each", async (t) => {
  const root = await makeMailRoot(t, undefined, ["bob"]);
  const store = makeStore(t, root);
  const senders = ["../../etc/passwd@x", "x".repeat(300) + "@example.org", "élodie@exämple.org", '"q u"@x', "nul\u0000@x", "Alice@X", "alice@x"];
  for (const sender of senders) {
    await store.deliver(makeEnvelope(sender, [RECIPIENT]), [target("bob", RECIPIENT)], messageStream(simpleMessage(`from ${JSON.stringify(sender)}`)));
  }
  const folders = (await readdir(path.join(root, "bob", "mail"))).sort();
  const expected = [...new Set(senders.map((s) => folderName(RECIPIENT, s)))].sort();
  assert.deepEqual(folders, expected);
  assert.equal(folders.length, senders.length - 1, "Alice@X and alice@x share a folder");
  assert.deepEqual((await readdir(root)).sort(), [".tmp", "bob"]);
  assert.deepEqual(await tempFiles(root), [], "temp bodies are removed");
  assert.deepEqual(await claimedMarkers(root), [], "crash markers are freed");
  const inbox = await readMbox(path.join(root, "bob", "INBOX"));
  assert.equal(inbox.length, senders.length);
  const unicode = inbox[2]!;
  assert.equal(unicode.from_line, "?lodie@ex?mple.org Wed Nov  4 03:04:05 2026");
  assert.ok((await readFile(path.join(root, "bob", "INBOX"), "utf8")).includes("\nReturn-Path: <élodie@exämple.org>\n"));
  const shared = await readMbox(path.join(root, "bob", "mail", folderName(RECIPIENT, "alice@x")));
  assert.equal(shared.length, 2);
});
