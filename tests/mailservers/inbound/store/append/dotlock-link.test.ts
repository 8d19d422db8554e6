// The dotlock linked from the mailbox's provisioning marker: no file is made or removed
// per lock, the marker is left as it was, a root without a usable (empty, plain) marker
// still gets a lock of our own, and after a kill -9 recovery knows the marker's links as the dead writer's
// locks (and nothing else).
import assert from "node:assert/strict";
import { linkSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdir, readFile, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { PROVISIONED_MARKER, provisionPlainRoot } from "../../../../../config/mailbox-layout.ts";
import { silentLogger } from "../../../../../lib/logger.ts";
import { SLOT_SIZE } from "../../../../../mailservers/inbound/store/append/crash-markers.ts";
import { recoverMailRoot, type CrashPoint } from "../../../../../mailservers/inbound/store/index.ts";
import { lockLeftovers, runChild } from "../crash-fixture.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, simpleMessage, target } from "../fixture.ts";

const OWNERS = ["bob", "carol"];

/** A mail root whose mailbox roots are provisioned as mailbox-fs.sh does: INBOX, mail/ and the marker. */
async function markedRoot(t: TestContext, owners: readonly string[] = OWNERS): Promise<string> {
  const root = await makeMailRoot(t, undefined, []);
  for (const owner of owners) await provisionPlainRoot(root, owner);
  return root;
}

interface Seen {
  readonly lock: string;
  readonly sameInodeAsMarker: boolean;
  readonly links: number;
  readonly text: string;
  readonly names: string[];
}

/** Looks at each lock while it is held (the "locked" crash point, called synchronously). */
function lockWatcher(root: string): { seen: Seen[]; crashAt(point: CrashPoint, file: string): void } {
  const seen: Seen[] = [];
  return {
    seen,
    crashAt(point, file) {
      if (point !== "locked") return;
      const lock = `${file}.lock`;
      const owner = path.relative(root, file).split(path.sep)[0]!;
      const marker = path.join(root, owner, PROVISIONED_MARKER);
      const stat = lstatSync(lock);
      const markerStat = lstatSync(marker, { throwIfNoEntry: false });
      seen.push({
        lock: path.relative(root, lock),
        sameInodeAsMarker: markerStat !== undefined && markerStat.ino === stat.ino,
        links: stat.nlink,
        text: readFileSync(lock, "utf8"),
        names: readdirSync(path.dirname(file)).filter((name) => name.includes(".lock")),
      });
    },
  };
}

test("with a provisioning marker the lock is a link to it: no file of our own, the marker left as it was", async (t) => {
  const root = await markedRoot(t);
  const marker = path.join(root, "bob", PROVISIONED_MARKER);
  const inode = statSync(marker).ino;
  const watcher = lockWatcher(root);
  const store = makeStore(t, root, { faults: { crashAt: watcher.crashAt } });
  await store.deliver(
    makeEnvelope("alice@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("linked")),
  );

  assert.deepEqual(watcher.seen.map((s) => s.lock).sort(), [
    path.join("bob", "INBOX.lock"),
    path.join("bob", "mail", "bob@semail.test,alice@example.org.lock"),
  ]);
  for (const s of watcher.seen) {
    assert.ok(s.sameInodeAsMarker, `${s.lock} is a link to the marker`);
    assert.ok(s.links >= 2, `${s.lock}: the marker and the lock`);
    assert.equal(s.text, "", `${s.lock} is empty, like the marker`);
    assert.deepEqual(s.names, [path.basename(s.lock)], `${s.lock}: no file of our own beside it`);
  }
  const after = lstatSync(marker);
  assert.equal(after.ino, inode);
  assert.equal(after.nlink, 1, "every lock is gone");
  assert.equal(after.size, 0);
  assert.deepEqual((await readdir(path.join(root, "bob"))).sort(), [PROVISIONED_MARKER, "INBOX", "mail"]);
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["linked"],
  );
});

test("a marker that is gone, not empty or a symlink: the lock is a file of our own holding our pid, the symlink's target untouched", async (t) => {
  const root = await markedRoot(t, ["bob", "carol", "dave"]);
  await rm(path.join(root, "bob", PROVISIONED_MARKER));
  await writeFile(path.join(root, "dave", PROVISIONED_MARKER), "written into\n");
  const outside = path.join(root, "outside");
  await writeFile(outside, "precious\n");
  const old = new Date(Date.UTC(2020, 0, 1));
  await utimes(outside, old, old);
  await rm(path.join(root, "carol", PROVISIONED_MARKER));
  await symlink(outside, path.join(root, "carol", PROVISIONED_MARKER));

  const watcher = lockWatcher(root);
  const store = makeStore(t, root, { faults: { crashAt: watcher.crashAt } });
  const targets = [target("bob"), target("carol"), target("dave")];
  await store.deliver(
    makeEnvelope(
      "alice@example.org",
      targets.map((x) => x.recipient),
    ),
    targets,
    messageStream(simpleMessage("own lock")),
  );

  assert.equal(watcher.seen.length, 6);
  for (const s of watcher.seen) {
    assert.equal(s.sameInodeAsMarker, false, s.lock);
    assert.equal(s.text, `${process.pid}\n`, `${s.lock} holds our pid`);
  }
  assert.equal(await readFile(outside, "utf8"), "precious\n");
  assert.equal(statSync(outside).mtimeMs, old.getTime(), "the symlink's target keeps its mtime");
  for (const owner of ["bob", "carol", "dave"])
    assert.deepEqual(
      (await readMbox(path.join(root, owner, "INBOX"))).map((m) => m.subject),
      ["own lock"],
      owner,
    );
  assert.equal(await readFile(path.join(root, "dave", PROVISIONED_MARKER), "utf8"), "written into\n");
  assert.deepEqual(await lockLeftovers(root), []);
});

/** Every mailbox file of both owners with its bytes, and each marker's inode and link count. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const owner of OWNERS) {
    for (const name of await readdir(path.join(root, owner, "mail")))
      files.set(`${owner}/mail/${name}`, (await readFile(path.join(root, owner, "mail", name))).toString("base64"));
    for (const name of await readdir(path.join(root, owner))) {
      if (name === "mail") continue;
      const file = path.join(root, owner, name);
      const stat = lstatSync(file);
      files.set(
        `${owner}/${name}`,
        `${(await readFile(file)).toString("base64")} inode ${stat.ino} links ${stat.nlink}`,
      );
    }
  }
  return files;
}

for (const point of ["lock-taken", "mid-write", "after-fsync", "before-unlock", "unlocked"] as const) {
  test(`kill -9 at ${point} holding locks linked from the markers: recovery removes them, restores the files, keeps the markers`, async (t) => {
    const root = await markedRoot(t);
    const first = makeStore(t, root);
    const targets = OWNERS.map((owner) => target(owner));
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

    const { signal, acknowledged } = await runChild(root, point, 1, 1);
    assert.equal(signal, "SIGKILL");
    assert.equal(acknowledged.size, 0);
    const lock = path.join(root, "bob", "INBOX.lock");
    if (point !== "unlocked")
      assert.equal(
        lstatSync(lock).ino,
        lstatSync(path.join(root, "bob", PROVISIONED_MARKER)).ino,
        "the dead process's lock is the marker's link",
      );

    const report = await recoverMailRoot(root, silentLogger());
    if (point !== "unlocked") assert.ok(report.locksRemoved.includes(lock), JSON.stringify(report));
    if (point === "mid-write")
      assert.ok(report.truncated.includes(path.join(root, "bob", "INBOX")), JSON.stringify(report));
    assert.deepEqual(report.unresolved, []);
    if (point !== "before-unlock" && point !== "unlocked")
      assert.deepEqual(await snapshot(root), before, "every file and marker as before");
    assert.deepEqual(await lockLeftovers(root), []);
    for (const owner of OWNERS)
      assert.equal(
        lstatSync(path.join(root, owner, PROVISIONED_MARKER)).nlink,
        1,
        `${owner}'s marker has no other link`,
      );

    const after = makeStore(t, root, { lockTimeoutMs: 1000 });
    await after.deliver(
      makeEnvelope("s0@example.org", ["bob@semail.test"]),
      [target("bob")],
      messageStream(simpleMessage("after")),
    );
    assert.deepEqual((await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject).at(-1), "after");
  });
}

test("recovery removes the dead writer's links of the marker and no other lock, though it stands where one of theirs was", async (t) => {
  const root = await markedRoot(t);
  // Killed holding bob's INBOX and folder and carol's INBOX (files are taken in path order).
  const { signal } = await runChild(root, "locked", 3, 1);
  assert.equal(signal, "SIGKILL");
  const bobInbox = path.join(root, "bob", "INBOX.lock");
  const carolInbox = path.join(root, "carol", "INBOX.lock");
  const [folderLock] = (await readdir(path.join(root, "bob", "mail"))).filter((name) => name.endsWith(".lock"));
  assert.ok(folderLock, "bob's folder is locked too");
  const bobFolder = path.join(root, "bob", "mail", folderLock);
  // Someone broke two of the dead locks and took their own: an empty file (as Python's
  // is), and a link of some other file.
  await rm(bobInbox);
  writeFileSync(bobInbox, "");
  await rm(carolInbox);
  writeFileSync(path.join(root, "carol", "other"), "");
  linkSync(path.join(root, "carol", "other"), carolInbox);

  const report = await recoverMailRoot(root, silentLogger());
  assert.deepEqual(report.locksRemoved, [bobFolder], JSON.stringify(report));
  assert.ok(lstatSync(bobInbox, { throwIfNoEntry: false }), "the other programs' locks stay");
  assert.ok(lstatSync(carolInbox, { throwIfNoEntry: false }));
  // bob's INBOX got the partial message, but its lock is someone else's now: not cut, said.
  assert.deepEqual(report.unresolved, [path.join(root, "bob", "INBOX")]);
});
/** A 4 KiB crash-marker slot as crash-markers.ts writes it. */
function slot(
  state: "S" | "D",
  length: number,
  inode: bigint,
  mtime: bigint,
  pid: number,
  lock: string,
  file: string,
): Buffer {
  const pad = (n: number | bigint) => String(n).padStart(20, "0");
  const page = Buffer.alloc(SLOT_SIZE, 0x20);
  page.write(
    `${state} length=${pad(length)} inode=${pad(inode)} mtime=${pad(mtime)}\npid=${pid}\nlock=${lock}\nfile=${file}\n`,
  );
  return page;
}

test("two dead slots for one file linked from the same marker: the later one holds the lock and says where to cut", async (t) => {
  const root = await makeMailRoot(t, undefined, []);
  await provisionPlainRoot(root, "bob");
  const inbox = path.join(root, "bob", "INBOX");
  const lock = `${inbox}.lock`;
  const marker = path.join(root, "bob", PROVISIONED_MARKER);
  // An older batch left unfinished at 10 bytes (its lock broken since), and the batch in
  // flight at the kill, from 30 bytes on, holding the marker's link as the lock.
  writeFileSync(inbox, `${"x".repeat(30)}partial`);
  linkSync(marker, lock);
  const inode = lstatSync(marker, { bigint: true }).ino;
  const deadWriter = `999999-1-${"0".repeat(32)}-${"a".repeat(12)}`;
  await mkdir(path.join(root, ".tmp", "pending"), { recursive: true });
  writeFileSync(
    path.join(root, ".tmp", "pending", deadWriter),
    Buffer.concat([
      slot("S", 10, inode, 1_000_000_000n, 999999, lock, inbox),
      slot("S", 30, inode, 2_000_000_000n, 999999, lock, inbox),
    ]),
  );

  const report = await recoverMailRoot(root, silentLogger());
  assert.deepEqual(report.truncated, [inbox]);
  assert.equal(await readFile(inbox, "utf8"), "x".repeat(30), "cut where the later batch began, not the older one");
  assert.deepEqual(report.locksRemoved, [lock]);
  assert.deepEqual(report.unresolved, [inbox], "the older batch's tail cannot be cut: said");
  assert.equal(lstatSync(marker).nlink, 1);
});
