// Quota: refused (QuotaExceededError, the backend's 552 5.2.2) only when every recipient's
// mailbox would overflow; otherwise every recipient gets the mail (grace), so one full
// mailbox never fails the others.
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { Readable } from "node:stream";
import { permFail } from "../../../../mailservers/core/types.ts";
import { QuotaExceededError } from "../../../../mailservers/inbound/store/index.ts";
import {
  mailFiles,
  tempFiles,
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  readMbox,
  simpleMessage,
  target,
} from "./fixture.ts";

const body = `${"z".repeat(2000)}\n`;

test("usage counts the bytes of a mailbox and follows our own appends", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  assert.equal(await store.usage("bob"), 0, "a mailbox not yet created uses nothing");
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("1", body)),
  );
  const inbox = (await stat(path.join(root, "bob", "INBOX"))).size;
  const folders = await readdir(path.join(root, "bob", "mail"));
  const folder = (await stat(path.join(root, "bob", "mail", folders[0]!))).size;
  assert.equal(await store.usage("bob"), inbox + folder);
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("2", body)),
  );
  assert.equal(await store.usage("bob"), 2 * (inbox + folder), "cached total grows with our appends");
});

test("one full mailbox does not fail the others: everyone gets the message", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const full = target("bob", "bob@semail.test", 1000);
  const roomy = target("carol", "carol@semail.test", 1 << 20);
  await store.deliver(
    makeEnvelope("a@example.org", [full.recipient, roomy.recipient]),
    [full, roomy],
    messageStream(simpleMessage("grace", body)),
  );
  assert.equal((await readMbox(path.join(root, "bob", "INBOX"))).length, 1, "grace for the full mailbox");
  assert.equal((await readMbox(path.join(root, "carol", "INBOX"))).length, 1);
});

test("QuotaExceededError when every recipient would overflow, and nothing is stored", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const targets = [target("bob", "bob@semail.test", 3000), target("carol", "carol@semail.test", 100)];
  const error = await store
    .deliver(
      makeEnvelope(
        "a@example.org",
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("too big", body)),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof QuotaExceededError, String(error));
  assert.deepEqual(await mailFiles(root), []);
  assert.deepEqual(await tempFiles(root), [], "the temp body is removed");
  // A small message still fits in bob's 3000 bytes (two copies of about 1 KB).
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [targets[0]!],
    messageStream(simpleMessage("small", "hi\n")),
  );
  assert.equal((await readMbox(path.join(root, "bob", "INBOX"))).length, 1);
});

test("the message's stream error is rethrown and nothing is stored", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const tooBig = permFail(552, "5.3.4", "Message too big");
  const stream = new Readable({
    read() {
      this.push(Buffer.from(`Subject: x\r\n\r\n${"a".repeat(1000)}`));
      this.destroy(tooBig);
    },
  });
  await assert.rejects(
    store.deliver(makeEnvelope("a@example.org", ["bob@semail.test"]), [target("bob")], stream),
    (e) => e === tooBig,
  );
  assert.deepEqual(await mailFiles(root), []);
  assert.deepEqual(await tempFiles(root), []);
});
