// Recovery knows a dead writer for certain: a store process killed with -9 is recovered
// although its pid still exists (a zombie its parent has not reaped, or a pid reused by
// an unrelated process), and a running store that breaks a dead writer's stale lock cuts
// the partial tail first. Real processes (crash-child.ts), real SIGKILLs, real pid reuse.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { processAlive, processStat } from "../../../../../lib/process-alive.ts";
import { parseWriter } from "../../../../../mailservers/inbound/store/append/writer-identity.ts";
import { lockLeftovers, runChild, runUnreapedChild } from "../crash-fixture.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, simpleMessage, target } from "../fixture.ts";

const OWNERS = ["bob", "carol"];

/** The marker files' names under the mail root: one per store that has claimed a slot and not closed cleanly. */
async function markerNames(root: string): Promise<string[]> {
  return readdir(path.join(root, ".tmp", "pending"));
}

/**
 * A restart after the crash: mail to the dead writer's mailboxes is accepted within
 * seconds (with the daemon's 20 s lock timeout, not after it); then every message that
 * got a 250 is in every file once, and every message there is whole.
 */
async function restartAndCheck(
  t: TestContext,
  root: string,
  acknowledged: Set<string>,
  deadMarker: string,
): Promise<void> {
  const store = makeStore(t, root, { lockTimeoutMs: 20_000 });
  const started = Date.now();
  const targets = OWNERS.map((owner) => target(owner));
  await store.deliver(
    makeEnvelope(
      "s0@example.org",
      targets.map((x) => x.recipient),
    ),
    targets,
    messageStream(simpleMessage("after restart")),
  );
  const took = Date.now() - started;
  assert.ok(took < 5000, `the first delivery after the restart took ${took} ms`);
  assert.ok(!(await markerNames(root)).includes(deadMarker), "the dead writer's marker is recovered");

  for (const owner of OWNERS) {
    const files = [
      path.join(root, owner, "INBOX"),
      ...(await readdir(path.join(root, owner, "mail"))).map((f) => path.join(root, owner, "mail", f)),
    ];
    const inInbox = new Set<string>();
    for (const file of files) {
      const seen = new Set<string>();
      for (const message of await readMbox(file)) {
        const subject = message.subject ?? "";
        assert.ok(!seen.has(subject), `${file}: ${subject} twice`);
        seen.add(subject);
        if (subject === "after restart") continue;
        const i = Number(/^crash (\d+)$/.exec(subject)?.[1]);
        assert.equal(message.body, `message ${i} line\n`.repeat(200 + i * 37), `${file}: ${subject} is partial`);
      }
      if (file.endsWith("INBOX")) for (const subject of seen) inInbox.add(subject);
    }
    for (const subject of acknowledged) assert.ok(inInbox.has(subject), `${owner} lost ${subject}, which got a 250`);
    assert.equal((await readMbox(path.join(root, owner, "INBOX"))).at(-1)!.subject, "after restart");
  }
  assert.deepEqual(await lockLeftovers(root), []);
}

test("a writer killed with -9 and left a zombie (its pid still taken) is recovered at the next start", async (t) => {
  const root = await makeMailRoot(t);
  const crash = await runUnreapedChild(t, root, "mid-write", 20, 12);
  assert.ok(
    crash.acknowledged.size > 0 && crash.acknowledged.size < 12,
    `killed mid-load: ${crash.acknowledged.size} acknowledged`,
  );
  assert.equal(processStat(crash.pid)?.state, "Z", "the dead writer is a zombie");
  assert.ok(processAlive(crash.pid), "kill(pid, 0) still finds it");
  const [deadMarker] = await markerNames(root);
  assert.equal(parseWriter(deadMarker!)?.pid, crash.pid);
  assert.ok((await readdir(path.join(root, "bob"))).includes("INBOX.lock"), "the dead writer left its lock");

  await restartAndCheck(t, root, crash.acknowledged, deadMarker!);
  assert.equal(await crash.reap(), "SIGKILL");
  t.diagnostic(`${crash.acknowledged.size} of 12 acknowledged before the kill`);
});

/** Spawns `sleep 30` as pid `pid` (ns_last_pid, as CRIU restores pids; retried if another fork takes it first). */
async function sleepWithPid(t: TestContext, pid: number): Promise<ChildProcess> {
  for (let attempt = 0; attempt < 100; attempt++) {
    writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = once(child, "exit");
    if (child.pid === pid) {
      t.after(async () => {
        child.kill("SIGKILL");
        await exited;
      });
      return child;
    }
    child.kill("SIGKILL");
    await exited;
  }
  throw new Error(`could not get pid ${pid} back`);
}

test("a writer killed with -9 whose pid now names an unrelated process is recovered at the next start", async (t) => {
  const root = await makeMailRoot(t);
  const { pid, signal, acknowledged } = await runChild(root, "mid-write", 20, 12);
  assert.equal(signal, "SIGKILL");
  assert.ok(acknowledged.size > 0 && acknowledged.size < 12, `killed mid-load: ${acknowledged.size} acknowledged`);
  const [deadMarker] = await markerNames(root);
  const dead = parseWriter(deadMarker!)!;
  assert.equal(dead.pid, pid);

  await sleepWithPid(t, pid);
  const reused = processStat(pid);
  assert.ok(reused && reused.state !== "Z" && reused.state !== "X", "the pid is taken by a live sleep");
  assert.notEqual(reused.startTime, dead.startTime, "which started later than the dead writer");
  assert.ok(processAlive(pid));

  await restartAndCheck(t, root, acknowledged, deadMarker!);
  t.diagnostic(`${acknowledged.size} of 12 acknowledged before the kill`);
});

test("a running store that breaks a dead writer's stale lock first cuts the partial tail it left", async (t) => {
  const root = await makeMailRoot(t);
  // Started before the crash: its start-up recovery had nothing to do.
  const store = makeStore(t, root, { staleLockMs: 300 });
  const inbox = path.join(root, "bob", "INBOX");
  await store.deliver(
    makeEnvelope("s0@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("before")),
  );
  const before = await readFile(inbox);

  const { signal } = await runChild(root, "mid-write", 1, 1);
  assert.equal(signal, "SIGKILL");
  assert.ok((await readFile(inbox)).length > before.length, "the dead writer left a partial tail");
  assert.ok((await readdir(path.join(root, "bob"))).includes("INBOX.lock"), "and its lock");

  // The lock goes stale (300 ms here, 5 minutes in the daemon) while the delivery waits.
  await store.deliver(
    makeEnvelope("s0@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("after takeover")),
  );
  const after = await readFile(inbox);
  assert.deepEqual(after.subarray(0, before.length), before);
  const messages = await readMbox(inbox);
  assert.deepEqual(
    messages.map((m) => m.subject),
    ["before", "after takeover"],
  );
  for (const message of messages) assert.equal(message.body, "Hello.\n");
  assert.deepEqual(await lockLeftovers(root), []);
  assert.equal((await markerNames(root)).length, 1, "only the running store's marker is left");
});
