// kill -9 in the middle of an append: the next start (or recoverMailRoot) cuts the
// partial tail, removes the lock the dead process left, and every mbox parses with only
// whole messages; every delivery that had resolved (250) is still there.
import assert from "node:assert/strict";
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../../../lib/logger.ts";
import { recoverMailRoot } from "../../../../mailservers/inbound/store/index.ts";
import { lockLeftovers, runChild } from "./crash-fixture.ts";
import {
  tempFiles,
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  readMbox,
  simpleMessage,
  target,
} from "./fixture.ts";

/** Every mbox file in the mail root, parsed by Python. */
async function allMboxes(root: string): Promise<Map<string, Awaited<ReturnType<typeof readMbox>>>> {
  const result = new Map<string, Awaited<ReturnType<typeof readMbox>>>();
  for (const owner of ["bob", "carol"]) {
    const files = [
      path.join(owner, "INBOX"),
      ...(await readdir(path.join(root, owner, "mail"))).map((f) => path.join(owner, "mail", f)),
    ];
    for (const file of files) {
      assert.ok(!file.endsWith(".lock"), `lock left behind: ${file}`);
      result.set(file, await readMbox(path.join(root, file)));
    }
  }
  return result;
}

async function bytesOf(root: string, file: string): Promise<string> {
  return (await readFile(path.join(root, file))).toString("base64");
}

/** Every file of both mailboxes with its bytes. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const owner of ["bob", "carol"]) {
    for (const name of await readdir(path.join(root, owner, "mail")))
      files.set(`${owner}/mail/${name}`, await bytesOf(root, `${owner}/mail/${name}`));
    for (const name of await readdir(path.join(root, owner)))
      if (name !== "mail") files.set(`${owner}/${name}`, await bytesOf(root, `${owner}/${name}`));
  }
  return files;
}

for (const point of ["lock-taken", "locked", "mid-write", "before-fsync", "after-fsync"] as const) {
  test(`kill -9 at ${point}: recovery restores every file and removes the dead locks`, async (t) => {
    const root = await makeMailRoot(t);
    const first = makeStore(t, root);
    const targets = [target("bob"), target("carol")];
    await first.deliver(
      makeEnvelope(
        "s0@example.org",
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("before")),
    );
    await first.close();
    const before = await snapshot(root);
    assert.equal(before.size, 4);

    const { signal, acknowledged } = await runChild(root, point, 1, 1);
    assert.equal(signal, "SIGKILL");
    assert.equal(acknowledged.size, 0);
    assert.ok((await readdir(path.join(root, "bob"))).includes("INBOX.lock"), "the dead process left its lock");
    const appended = point !== "lock-taken" && point !== "locked";
    if (appended)
      assert.notEqual(
        await bytesOf(root, "bob/INBOX"),
        before.get("bob/INBOX"),
        "bytes of the lost message are in the file",
      );

    const report = await recoverMailRoot(root, silentLogger());
    // The first file (bob's INBOX) at least; with the fsync of one file overlapping the
    // write of the next, later files can be in flight too.
    assert.ok(report.locksRemoved.includes(path.join(root, "bob", "INBOX.lock")), JSON.stringify(report));
    if (appended) assert.ok(report.truncated.includes(path.join(root, "bob", "INBOX")), JSON.stringify(report));
    assert.deepEqual(report.unresolved, []);
    assert.deepEqual(await snapshot(root), before, "every file back to its bytes, no lock left");
    assert.deepEqual(await lockLeftovers(root), []);
    assert.deepEqual(await tempFiles(root), []);
    assert.deepEqual(await readdir(path.join(root, ".tmp", "pending")), [], "the dead process's marker file is gone");
    for (const [file, messages] of await allMboxes(root))
      assert.deepEqual(
        messages.map((m) => m.subject),
        ["before"],
        file,
      );

    // A new store delivers at once: no stale lock to wait for.
    const after = makeStore(t, root, { lockTimeoutMs: 1000 });
    await after.deliver(
      makeEnvelope("s0@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage("after")),
    );
    assert.deepEqual(
      (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
      ["before", "after"],
    );
  });
}

// The end of a batch: the file is final, then the lock goes, then the slot. A kill between
// any two steps must not leave a lock that no slot names (deliveries would wait 5 minutes).
for (const point of ["before-unlock", "unlocked"] as const) {
  test(`kill -9 at ${point}: recovery removes every lock of the dead process and keeps the final files`, async (t) => {
    const root = await makeMailRoot(t);
    const first = makeStore(t, root);
    const targets = [target("bob"), target("carol")];
    await first.deliver(
      makeEnvelope(
        "s0@example.org",
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("before")),
    );
    await first.close();

    const { signal, acknowledged } = await runChild(root, point, 1, 1);
    assert.equal(signal, "SIGKILL");
    assert.equal(acknowledged.size, 0);
    if (point === "before-unlock") assert.notDeepEqual(await lockLeftovers(root), [], "the dead process left a lock");

    const report = await recoverMailRoot(root, silentLogger());
    assert.deepEqual(report.unresolved, []);
    assert.deepEqual(await lockLeftovers(root), [], JSON.stringify(report));
    assert.deepEqual(await readdir(path.join(root, ".tmp", "pending")), []);
    // The unacknowledged message is whole where its file was final, cut out where it was not.
    let kept = 0;
    for (const [file, messages] of await allMboxes(root)) {
      const subjects = messages.map((m) => m.subject);
      assert.ok(
        ["before"].join() === subjects.join() || ["before", "crash 0"].join() === subjects.join(),
        `${file}: ${subjects.join()}`,
      );
      if (subjects.length === 2) {
        assert.equal(messages[1]!.body, "message 0 line\n".repeat(200), `${file}: crash 0 is whole`);
        kept++;
      }
    }
    assert.ok(kept >= 1, "the file that reached the crash point was final");

    // No stale lock to wait for: a new store delivers at once to every file.
    const after = makeStore(t, root, { lockTimeoutMs: 1000 });
    await after.deliver(
      makeEnvelope(
        "s0@example.org",
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("after")),
    );
    for (const owner of ["bob", "carol"])
      assert.equal((await readMbox(path.join(root, owner, "INBOX"))).at(-1)!.subject, "after");
  });
}

test("recovery leaves alone a lock another program took, even one naming the dead process's pid", async (t) => {
  const root = await makeMailRoot(t);
  const { signal } = await runChild(root, "mid-write", 1, 1);
  assert.equal(signal, "SIGKILL");
  // The dead lock was broken and another program took the mailbox; in its pid namespace
  // its pid happens to be the dead daemon's, so the lock's text is the same.
  const lock = path.join(root, "bob", "INBOX.lock");
  const text = await readFile(lock, "utf8");
  await rm(lock);
  await writeFile(lock, text);
  const size = (await readFile(path.join(root, "bob", "INBOX"))).length;
  const report = await recoverMailRoot(root, silentLogger());
  assert.equal(await readFile(lock, "utf8"), text, "the other program's lock stays");
  assert.ok(!report.locksRemoved.includes(lock), JSON.stringify(report));
  assert.deepEqual(report.unresolved, [path.join(root, "bob", "INBOX")]);
  assert.equal((await readFile(path.join(root, "bob", "INBOX"))).length, size, "not truncated under another's lock");
});

test("kill -9 under concurrent load: every acknowledged message is whole, no partial one anywhere", async (t) => {
  const root = await makeMailRoot(t);
  const count = 40;
  // Die in the middle of the 25th batch write: some deliveries have resolved, others are half written.
  const { signal, acknowledged } = await runChild(root, "mid-write", 25, count);
  assert.equal(signal, "SIGKILL");
  // A store starting on the root recovers before it delivers.
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope("s0@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("restart")),
  );
  const mboxes = await allMboxes(root);
  for (const owner of ["bob", "carol"]) {
    const subjects = new Set(mboxes.get(path.join(owner, "INBOX"))!.map((m) => m.subject));
    for (const subject of acknowledged) assert.ok(subjects.has(subject), `${owner} lost acknowledged ${subject}`);
  }
  let stored = 0;
  for (const [file, messages] of mboxes) {
    for (const message of messages) {
      if (message.subject === "restart") continue;
      const i = Number(/^crash (\d+)$/.exec(message.subject ?? "")?.[1]);
      assert.equal(message.body, `message ${i} line\n`.repeat(200 + i * 37), `${file}: ${message.subject} is whole`);
      stored++;
    }
  }
  assert.ok(stored >= acknowledged.size * 4, "acknowledged messages are in INBOX and folder of both mailboxes");
  t.diagnostic(`${acknowledged.size} of ${count} acknowledged before the kill; ${stored} whole copies on disk`);
});

test("if another program broke the dead process's lock first, recovery does not truncate (it cannot know what follows)", async (t) => {
  const root = await makeMailRoot(t);
  const { signal } = await runChild(root, "mid-write", 1, 1);
  assert.equal(signal, "SIGKILL");
  await rm(path.join(root, "bob", "INBOX.lock"));
  const size = (await readFile(path.join(root, "bob", "INBOX"))).length;
  assert.ok(size > 0);
  const report = await recoverMailRoot(root, silentLogger());
  assert.deepEqual(report.unresolved, [path.join(root, "bob", "INBOX")]);
  assert.deepEqual(report.truncated, []);
  assert.equal((await readFile(path.join(root, "bob", "INBOX"))).length, size);
});
