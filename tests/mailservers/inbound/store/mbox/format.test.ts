// The stored format: mboxo that Python's mailbox reads back, our trace headers first,
// only `From ` lines quoted (no reader undoes quoting), and the headers mbox readers trust stripped.
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { test } from "node:test";
import { folderName } from "../../../../../mailservers/inbound/store/index.ts";
import { MboxoBody, asctime } from "../../../../../mailservers/inbound/store/mbox/mboxo.ts";
import {
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  readMbox,
  simpleMessage,
  target,
  tempFiles,
} from "../fixture.ts";

/** What mboxo quoting does to a body: a ">" before each line that begins "From ", no other. */
const quoted = (text: string) => text.replace(/^From /gm, ">From ");

test("a message lands in INBOX and in the pair folder, with trace headers, readable by Python", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const envelope = makeEnvelope("alice@example.org", ["bob@semail.test"]);
  await store.deliver(envelope, [target("bob")], messageStream(simpleMessage("first")));
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("second", "No newline at end")),
  );

  const inbox = await readMbox(path.join(root, "bob", "INBOX"));
  assert.deepEqual(
    inbox.map((m) => m.subject),
    ["first", "second"],
  );
  const first = inbox[0]!;
  assert.equal(first.from_line, "alice@example.org Wed Nov  4 03:04:05 2026");
  assert.deepEqual(
    first.headers.slice(0, 3).map(([k]) => k),
    ["Return-Path", "Delivered-To", "Received"],
  );
  assert.equal(first.headers[0]![1], "<alice@example.org>");
  assert.equal(first.headers[1]![1], "bob@semail.test");
  assert.match(
    first.headers[2]![1],
    /^from client\.example \(\[127\.0\.0\.1\]\)\s+by mx\.semail\.test \(SEMail\) with ESMTP id T\d+\s+for <bob@semail\.test>; Wed, 4 Nov 2026 03:04:05 \+0000$/,
  );
  assert.equal(first.body, "Hello.\n");
  assert.equal(inbox[1]!.body, "No newline at end\n");

  const folders = await readdir(path.join(root, "bob", "mail"));
  assert.deepEqual(folders, [folderName("bob@semail.test", "alice@example.org")]);
  const folder = await readMbox(path.join(root, "bob", "mail", folders[0]!));
  assert.deepEqual(
    folder.map((m) => m.subject),
    ["first", "second"],
  );

  // LF only, and each message followed by one blank line.
  const raw = await readFile(path.join(root, "bob", "INBOX"), "latin1");
  assert.ok(!raw.includes("\r"));
  assert.ok(raw.endsWith("No newline at end\n\n"));
  assert.equal(raw.match(/^From /gm)?.length, 2);
});

test("the null sender gets MAILER-DAEMON in the From_ line and an empty Return-Path", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await store.deliver(makeEnvelope("", ["bob@semail.test"]), [target("bob")], messageStream(simpleMessage("bounce")));
  const [message] = await readMbox(path.join(root, "bob", "INBOX"));
  assert.match(message!.from_line, /^MAILER-DAEMON /);
  assert.equal(message!.headers[0]![1], "<>");
  const [folder] = await readMbox(path.join(root, "bob", "mail", "bob@semail.test,=null-sender"));
  assert.equal(folder!.subject, "bounce");
});

test("only lines that begin with From are quoted (mboxo), >From lines are kept as sent, whatever the chunking", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const body = [
    "From the start of the body",
    ">From already quoted",
    ">>From twice",
    "From",
    " From indented is not quoted",
    "Fromage is not a From line",
    "",
    "From after a blank line",
    "last line without newline: From x",
  ].join("\n");
  for (const chunk of [1, 3, 64, 100_000]) {
    await store.deliver(
      makeEnvelope("alice@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage(`chunk ${chunk}`, body), chunk),
    );
  }
  const messages = await readMbox(path.join(root, "bob", "INBOX"));
  assert.equal(messages.length, 4, "a From line in a body must not split the message");
  for (const message of messages) {
    assert.deepEqual(message.body.split("\n").slice(0, 4), [
      ">From the start of the body",
      ">From already quoted",
      ">>From twice",
      "From",
    ]);
    assert.equal(message.body, `${quoted(body)}\n`);
  }
});

test("Content-Length, Status, X-Status, X-IMAP*, X-UID and X-Keywords are stripped with their continuation lines", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const text = [
    "From: a@example.org",
    "Content-Length: 3",
    "status: RO",
    "X-Status: F",
    "X-IMAP: 1 2",
    "X-IMAPbase: 1234 5",
    "  0000000 folded",
    "X-UID: 99",
    "X-Keywords: $Forged",
    "\tcontinued",
    "X-Keep: yes",
    "  folded keep",
    "Subject: stripped",
    "",
    "Status: in the body stays",
    "Content-Length: 1",
  ].join("\n");
  await store.deliver(makeEnvelope("a@example.org", ["bob@semail.test"]), [target("bob")], messageStream(text));
  const [message] = await readMbox(path.join(root, "bob", "INBOX"));
  const names = message!.headers.map(([k]) => k.toLowerCase());
  assert.deepEqual(names, ["return-path", "delivered-to", "received", "from", "x-keep", "subject"]);
  assert.equal(message!.headers[4]![1], "yes\n  folded keep");
  assert.equal(message!.body, "Status: in the body stays\nContent-Length: 1\n");
  const raw = await readFile(path.join(root, "bob", "INBOX"), "latin1");
  assert.ok(!/0000000 folded|continued|\$Forged/.test(raw));
});

test("a folded line before the first header cannot continue our Received header", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(" by evil.example; forged\nSubject: s\n\nbody\n"),
  );
  const [message] = await readMbox(path.join(root, "bob", "INBOX"));
  assert.doesNotMatch(message!.headers[2]![1], /evil/);
  assert.deepEqual(
    message!.headers.map(([k]) => k),
    ["Return-Path", "Delivered-To", "Received", "Subject"],
  );
});

test("a long line keeps its bytes and a From line longer than the look-ahead is still quoted", async () => {
  const long = "x".repeat(5000);
  const input = `Subject: s\r\n\r\nFrom ${long}\r\n${long}\r\nend`;
  const body = new MboxoBody();
  const chunks: Buffer[] = [];
  body.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    Readable.from([Buffer.from(input)])
      .pipe(body)
      .on("finish", resolve)
      .on("error", reject);
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(chunks).toString(), `Subject: s\n\n>From ${long}\n${long}\nend\n\n`);
  assert.equal(body.bytes, Buffer.concat(chunks).length);
});

test("bare CR stays inside a line; CRLF split across chunks becomes LF", async () => {
  const body = new MboxoBody();
  const chunks: Buffer[] = [];
  body.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    Readable.from([Buffer.from("A: b\r"), Buffer.from("\n\r\nx\ry\r"), Buffer.from("\n")])
      .pipe(body)
      .on("finish", resolve)
      .on("error", reject);
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(chunks).toString(), "A: b\n\nx\ry\n\n");
});

test("asctime pads the day with a space like C", () => {
  assert.equal(asctime(new Date(Date.UTC(2026, 0, 5, 1, 2, 3))), "Mon Jan  5 01:02:03 2026");
  assert.equal(asctime(new Date(Date.UTC(2026, 10, 24, 13, 0, 0))), "Tue Nov 24 13:00:00 2026");
});

test("a message after a torn last line (a writer that died) still starts a message of its own", async (t) => {
  const root = await makeMailRoot(t);
  await mkdir(path.join(root, "bob"), { recursive: true });
  await writeFile(path.join(root, "bob", "INBOX"), "From x Thu Jan  1 00:00:00 2026\nSubject: torn\n\ncut in the mid");
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("whole")),
  );
  const messages = await readMbox(path.join(root, "bob", "INBOX"));
  assert.deepEqual(
    messages.map((m) => m.subject),
    ["torn", "whole"],
  );
  assert.equal(messages[1]!.body, "Hello.\n");
});

test("a large message (spooled to a temp file) round-trips byte for byte", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const lines: string[] = [];
  for (let i = 0; i < 6000; i++) lines.push(i % 100 === 0 ? `From line ${i}` : `line ${i} ${"é".repeat(i % 50)}`);
  const body = `${lines.join("\n")}\n`;
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("large", body), 65536),
  );
  const [message] = await readMbox(path.join(root, "bob", "INBOX"));
  assert.ok(Buffer.byteLength(body) > 200_000);
  assert.equal(message!.body, quoted(body));
  assert.deepEqual(await tempFiles(root), []);
});

test("two recipients of one mailbox get a copy each in its INBOX (Delivered-To differs) and a folder each", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const targets = [
    target("admin", "postmaster@semail.test"),
    target("admin", "abuse@semail.test"),
    target("admin", "POSTMASTER@semail.test"),
  ];
  await store.deliver(
    makeEnvelope(
      "alice@example.org",
      targets.map((x) => x.recipient),
    ),
    targets,
    messageStream(simpleMessage("report")),
  );
  const inbox = await readMbox(path.join(root, "admin", "INBOX"));
  assert.deepEqual(
    inbox.map((m) => m.headers[1]![1]),
    ["postmaster@semail.test", "abuse@semail.test"],
    "the same address twice is one copy",
  );
  assert.deepEqual((await readdir(path.join(root, "admin", "mail"))).sort(), [
    folderName("abuse@semail.test", "alice@example.org"),
    folderName("postmaster@semail.test", "alice@example.org"),
  ]);
});
