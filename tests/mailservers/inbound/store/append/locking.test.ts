// Dotlocks shared with users' mail readers: Python's mailbox.mbox(...).lock() holding
// INBOX makes a delivery wait, then proceed; a lock held too long is a MailboxLockedError
// (the backend's 451 4.2.0); a stale lock is removed.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { once } from "node:events";
import { test, type TestContext } from "node:test";
import { MailboxLockedError } from "../../../../../mailservers/inbound/store/index.ts";
import {
  claimedMarkers,
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  readMbox,
  simpleMessage,
  target,
} from "../fixture.ts";
import { until } from "../../../../../testkit/until.ts";

/** Python holding the mbox lock until it reads a line, then appending one message and unlocking. */
async function pythonHoldingLock(
  t: TestContext,
  file: string,
): Promise<{ child: ChildProcessWithoutNullStreams; exited: Promise<number | null> }> {
  const script = `
import mailbox, sys
mb = mailbox.mbox(sys.argv[1])
mb.lock()
print("locked", flush=True)
sys.stdin.readline()
msg = mailbox.mboxMessage("From: python@example.org\\nSubject: from python\\n\\nFrom python with love\\n")
msg.set_from("python@example.org")
mb.add(msg)
mb.flush()
mb.unlock()
print("done", flush=True)
`;
  const child = spawn("python3", ["-c", script, file]);
  const exited = once(child, "exit").then(() => child.exitCode);
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  // Keep reading stdout to the end: closing the pipe early would kill Python with EPIPE.
  let out = "";
  child.stdout.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
      if (out.includes("locked")) resolve();
    });
    child.on("exit", () => reject(new Error(`python did not take the lock: ${out}`)));
  });
  return { child, exited };
}

test("a delivery waits for Python's lock on INBOX, then appends after Python's message", async (t) => {
  const root = await makeMailRoot(t);
  await mkdir(path.join(root, "bob", "mail"), { recursive: true });
  const inbox = path.join(root, "bob", "INBOX");
  const { child: python, exited } = await pythonHoldingLock(t, inbox);
  const store = makeStore(t, root, { lockTimeoutMs: 10_000 });
  let settled = false;
  const delivery = store
    .deliver(
      makeEnvelope("alice@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage("from node")),
    )
    .finally(() => {
      settled = true;
    });
  // The store has started its batch (crash marker written) and is polling for the lock.
  await until(
    async () => (await claimedMarkers(root).catch(() => [])).length > 0,
    "the store to start its batch",
    5000,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(settled, false, "the delivery must wait while Python holds the lock");
  python.stdin.write("go\n");
  await delivery;
  assert.equal(await exited, 0);
  const messages = await readMbox(inbox);
  assert.deepEqual(
    messages.map((m) => m.subject),
    ["from python", "from node"],
  );
  assert.equal(messages[0]!.body, ">From python with love\n");
  assert.deepEqual((await readdir(path.join(root, "bob"))).sort(), ["INBOX", "mail"]);
});

test("a lock held past the bounded wait gives MailboxLockedError and leaves nothing behind", async (t) => {
  const root = await makeMailRoot(t);
  await mkdir(path.join(root, "bob", "mail"), { recursive: true });
  const inbox = path.join(root, "bob", "INBOX");
  const { child: python, exited } = await pythonHoldingLock(t, inbox);
  const store = makeStore(t, root, { lockTimeoutMs: 300 });
  const started = Date.now();
  const error = await store
    .deliver(
      makeEnvelope("alice@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage("blocked")),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof MailboxLockedError, String(error));
  assert.equal(error.file, inbox);
  assert.ok(Date.now() - started < 5000, "the wait is bounded");
  assert.deepEqual(await claimedMarkers(root), []);
  assert.deepEqual(await readdir(path.join(root, "bob", "mail")), [], "the folder copy was not kept either");
  // Python's lock is untouched; after it finishes, both writers' mail is intact.
  python.stdin.write("go\n");
  assert.equal(await exited, 0);
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("retry")),
  );
  assert.deepEqual(
    (await readMbox(inbox)).map((m) => m.subject),
    ["from python", "retry"],
  );
});

test("a stale lock (older than 5 minutes) is removed; a fresh one is respected", async (t) => {
  const root = await makeMailRoot(t);
  await mkdir(path.join(root, "bob", "mail"), { recursive: true });
  const lock = path.join(root, "bob", "INBOX.lock");
  await writeFile(lock, "");
  const store = makeStore(t, root, { lockTimeoutMs: 200 });
  const fresh = await store
    .deliver(
      makeEnvelope("alice@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage("fresh")),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(fresh instanceof MailboxLockedError, String(fresh));
  const old = new Date(Date.now() - 6 * 60 * 1000);
  await utimes(lock, old, old);
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("after stale")),
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["after stale"],
  );
  assert.ok(!(await readdir(path.join(root, "bob"))).includes("INBOX.lock"));
});

test("concurrent deliveries to one mailbox share locks and fsyncs and all arrive intact", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const count = 60;
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      store.deliver(
        makeEnvelope(`s${i % 3}@example.org`, ["bob@semail.test"]),
        [target("bob")],
        messageStream(simpleMessage(`m${i}`, `From body ${i}\n`.repeat(50))),
      ),
    ),
  );
  const inbox = await readMbox(path.join(root, "bob", "INBOX"));
  assert.equal(inbox.length, count);
  assert.deepEqual(new Set(inbox.map((m) => m.subject)).size, count);
  for (const m of inbox) assert.equal(m.body, `>From body ${m.subject!.slice(1)}\n`.repeat(50));
  const folders = await readdir(path.join(root, "bob", "mail"));
  assert.equal(folders.length, 3);
  let total = 0;
  for (const f of folders) total += (await readMbox(path.join(root, "bob", "mail", f))).length;
  assert.equal(total, count);
});
