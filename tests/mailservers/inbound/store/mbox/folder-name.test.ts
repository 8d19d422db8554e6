// Folder names from hostile envelope addresses: safe as a file name, and one-to-one.
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { MAX_FOLDER_NAME, folderName, parseFolderName } from "../../../../../mailservers/inbound/store/index.ts";
import {
  claimedMarkers,
  tempFiles,
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  readMbox,
  simpleMessage,
  target,
} from "../fixture.ts";

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
  `${"x".repeat(300)}@example.org`,
  `${"y".repeat(300)}@example.org`,
  `${"x".repeat(299)}z@example.org`,
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

function assertSafe(name: string, why: string): void {
  assert.ok(Buffer.byteLength(name) <= MAX_FOLDER_NAME, why);
  assert.equal(name, name.toLowerCase(), why);
  assert.ok(!name.includes("/") && !name.includes(".."), why);
  assert.ok(!name.startsWith("."), why);
  assert.ok(!/[\x00-\x20\x7f-\uffff&*%?'"\\]/.test(name), why);
  assert.ok(!name.endsWith(".lock"), why);
  assert.equal(path.basename(name), name, why);
}

test("every hostile sender gives a safe file name", () => {
  for (const sender of hostile) {
    const name = folderName(RECIPIENT, sender);
    assertSafe(name, `${JSON.stringify(sender)} -> ${JSON.stringify(name)}`);
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
      if (!name.includes("~"))
        assert.deepEqual(parseFolderName(name), { recipient: recipient.toLowerCase(), sender: sender.toLowerCase() });
    }
  }
  const pairs = new Set(
    recipients.flatMap((r) => hostile.map((s) => JSON.stringify([r.toLowerCase(), s.toLowerCase()]))),
  );
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
  const long = folderName(RECIPIENT, `${"x".repeat(300)}@example.org`);
  assert.equal(long.length, MAX_FOLDER_NAME);
  assert.match(long, /^bob@semail\.test,x+~[0-9a-f]{24}$/);
  assert.equal(parseFolderName(long), undefined);
});

test("mail from hostile senders is stored inside the mailbox, one readable folder each", async (t) => {
  const root = await makeMailRoot(t, undefined, ["bob"]);
  const store = makeStore(t, root);
  const senders = [
    "../../etc/passwd@x",
    `${"x".repeat(300)}@example.org`,
    "élodie@exämple.org",
    '"q u"@x',
    "nul\u0000@x",
    "Alice@X",
    "alice@x",
  ];
  for (const sender of senders) {
    await store.deliver(
      makeEnvelope(sender, [RECIPIENT]),
      [target("bob", RECIPIENT)],
      messageStream(simpleMessage(`from ${JSON.stringify(sender)}`)),
    );
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
  assert.ok(
    (await readFile(path.join(root, "bob", "INBOX"), "utf8")).includes("\nReturn-Path: <élodie@exämple.org>\n"),
  );
  const shared = await readMbox(path.join(root, "bob", "mail", folderName(RECIPIENT, "alice@x")));
  assert.equal(shared.length, 2);
});

test("names come from the exact bytes: the review's two invalid senders, and lone surrogates, stay apart", () => {
  const ff = folderName(RECIPIENT, Buffer.from([0xff, ...Buffer.from("-R@x.example")]));
  const fe = folderName(RECIPIENT, Buffer.from([0xfe, ...Buffer.from("-R@x.example")]));
  assert.equal(ff, "bob@semail.test,=ff-r@x.example");
  assert.equal(fe, "bob@semail.test,=fe-r@x.example");
  // What smtp-server used to hand over for both: one U+FFFD, well encoded.
  assert.equal(folderName(RECIPIENT, "\ufffd-R@x.example"), "bob@semail.test,=ef=bf=bd-r@x.example");
  // A string is its UTF-8, and a lone surrogate its own three bytes (WTF-8), not U+FFFD's.
  assert.equal(folderName(RECIPIENT, "\ud800-R@x.example"), "bob@semail.test,=ed=a0=80-r@x.example");
  assert.equal(folderName(RECIPIENT, "\udc00-R@x.example"), "bob@semail.test,=ed=b0=80-r@x.example");
  assert.equal(folderName(RECIPIENT, "\ud83d\udca9@x"), folderName(RECIPIENT, Buffer.from("💩@x")));
  assert.equal(folderName(Buffer.from(RECIPIENT), Buffer.alloc(0)), folderName(RECIPIENT, ""));
});

/** mulberry32: a small seeded generator; a failure names its seed, FOLDER_NAME_SEED=<seed> replays it. */
function generator(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

// Bytes that sit near an edge of the encoding: case, the escapes' own characters, ".lock",
// UTF-8 lead and continuation bytes, U+FFFD's and a surrogate's bytes, and random others.
const EDGE_BYTES = [..."aAzZ.,=@-_+~/2ef0lockLOCK"]
  .map((c) => c.charCodeAt(0))
  .concat([0x00, 0x20, 0x7f, 0x80, 0xbf, 0xbd, 0xc3, 0xa9, 0xed, 0xa0, 0xef, 0xfe, 0xff]);
const EDGE_UNITS = [
  0x61, 0x41, 0x2e, 0x2c, 0x3d, 0x40, 0xe9, 0xc9, 0xfffd, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xdca9,
];
const asciiLower = (b: number) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

test("property: no two distinct (recipient, sender) byte strings share a name (4,000 random pairs)", () => {
  const seed = Number(process.env.FOLDER_NAME_SEED ?? Date.now()) >>> 0;
  const random = generator(seed);
  const randomBytes = (): Buffer => {
    // Mostly short and dense in edge bytes; one in ten long enough to be shortened with a hash.
    const length = random(10) < 1 ? 150 + Math.floor(random(150)) : Math.floor(random(9));
    return Buffer.from(
      Array.from({ length }, () =>
        random(4) < 3 ? EDGE_BYTES[Math.floor(random(EDGE_BYTES.length))]! : Math.floor(random(256)),
      ),
    );
  };
  const seen = new Map<string, string>();
  for (let i = 0; i < 4000; i++) {
    const recipient = random(3) < 1 ? Buffer.from(RECIPIENT) : randomBytes();
    const sender = randomBytes();
    const name = folderName(recipient, sender);
    const pair = `${Buffer.from(recipient.map(asciiLower)).toString("hex")},${Buffer.from(sender.map(asciiLower)).toString("hex")}`;
    const why = `seed ${seed}: ${pair} -> ${name}`;
    assertSafe(name, why);
    const before = seen.get(name);
    assert.ok(before === undefined || before === pair, `seed ${seed}: ${pair} and ${before} both map to ${name}`);
    seen.set(name, pair);
  }
  assert.ok(seen.size > 3000, `seed ${seed}: only ${seen.size} distinct pairs drawn`);
});

test("property: no two distinct address strings share a name, lone surrogates included (4,000 random pairs)", () => {
  const seed = Number(process.env.FOLDER_NAME_SEED ?? Date.now()) >>> 0;
  const random = generator(seed);
  const randomString = () =>
    String.fromCharCode(
      ...Array.from({ length: Math.floor(random(7)) }, () => EDGE_UNITS[Math.floor(random(EDGE_UNITS.length))]!),
    );
  const seen = new Map<string, string>();
  for (let i = 0; i < 4000; i++) {
    const sender = randomString();
    const name = folderName(RECIPIENT, sender);
    const key = sender.replace(/[A-Z]/g, (c) => c.toLowerCase());
    const why = `seed ${seed}: ${JSON.stringify(sender)} -> ${name}`;
    assertSafe(name, why);
    const before = seen.get(name);
    assert.ok(
      before === undefined || before === key,
      `seed ${seed}: ${JSON.stringify(key)} and ${JSON.stringify(before)} both map to ${name}`,
    );
    seen.set(name, key);
    if (sender.isWellFormed()) assert.deepEqual(parseFolderName(name), { recipient: RECIPIENT, sender: key }, why);
  }
  assert.ok(seen.size > 1000, `seed ${seed}: only ${seen.size} distinct senders drawn`);
});
