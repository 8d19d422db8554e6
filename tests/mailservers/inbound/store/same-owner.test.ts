// Two recipients of one mailbox in one message (postmaster@ and abuse@ of two domains
// both go to the admin): each gets its copy, and the store does not wait on itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, simpleMessage, target } from "./fixture.ts";

test("two targets in one mailbox both land, without a deadlock", { timeout: 20_000 }, async (t) => {
  const mailRoot = await makeMailRoot(t);
  const store = makeStore(t, mailRoot);
  const envelope = makeEnvelope("alice@example.org", ["postmaster@a.test", "abuse@b.test"]);
  await store.deliver(
    envelope,
    [target("admin", "postmaster@a.test"), target("admin", "abuse@b.test")],
    messageStream(simpleMessage("twice")),
  );
  const inbox = await readMbox(join(mailRoot, "admin", "INBOX"));
  assert.deepEqual(
    inbox.map((m) => m.headers.find(([k]) => k === "Delivered-To")?.[1]),
    ["postmaster@a.test", "abuse@b.test"],
  );
});

test("concurrent messages with two targets in one mailbox all land", { timeout: 20_000 }, async (t) => {
  const mailRoot = await makeMailRoot(t);
  const store = makeStore(t, mailRoot);
  const rounds = Array.from({ length: 20 }, (_, i) => {
    const envelope = makeEnvelope("alice@example.org", ["postmaster@a.test", "abuse@b.test"]);
    const targets =
      i % 2 === 0
        ? [target("admin", "postmaster@a.test"), target("admin", "abuse@b.test")]
        : [target("admin", "postmaster@a.test")];
    return store.deliver(envelope, targets, messageStream(simpleMessage(`m${i}`)));
  });
  await Promise.all(rounds);
  assert.equal((await readMbox(join(mailRoot, "admin", "INBOX"))).length, 30);
});
