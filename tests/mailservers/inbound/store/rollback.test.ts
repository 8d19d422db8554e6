// A failed append anywhere undoes the message everywhere: every mbox file returns to
// exactly its previous bytes, locks and crash markers are gone, and the store says so
// (RolledBackError; the backend's 451 4.3.0).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import {
  RolledBackError,
  faultError,
  folderName,
  type FaultInjector,
} from "../../../../mailservers/inbound/store/index.ts";
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
} from "./fixture.ts";

const run = promisify(execFile);
const SENDER = "alice@example.org";
const owners = ["bob", "carol", "dave"];
const targets = owners.map((o) => target(o));

/** Every file under the mail root (outside .tmp) with its bytes. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else files.set(path.relative(root, full), (await readFile(full)).toString("base64"));
    }
  }
  for (const owner of await readdir(root)) if (owner !== ".tmp") await walk(path.join(root, owner));
  return files;
}

/** A mail root where each of three mailboxes already holds one message (INBOX + folder). */
async function filledRoot(t: TestContext, parent?: string): Promise<string> {
  const root = await makeMailRoot(t, parent, owners);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope(
      SENDER,
      targets.map((x) => x.recipient),
    ),
    targets,
    messageStream(simpleMessage("kept")),
  );
  await store.close();
  return root;
}

const folderOf = (owner: string) => path.join(owner, "mail", folderName(`${owner}@semail.test`, SENDER));

async function expectRolledBack(t: TestContext, faults: FaultInjector, what: string): Promise<void> {
  const root = await filledRoot(t);
  const before = await snapshot(root);
  assert.equal(before.size, 6);
  const store = makeStore(t, root, { faults });
  const error = await store
    .deliver(
      makeEnvelope(
        SENDER,
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("doomed", "x\n".repeat(5000))),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof RolledBackError, `${what}: expected a rollback, got ${String(error)}`);
  assert.deepEqual(await snapshot(root), before, `${what}: every file is back to its previous bytes, no lock left`);
  assert.deepEqual(await claimedMarkers(root), []);
  assert.deepEqual(await tempFiles(root), []);
  for (const owner of owners)
    assert.deepEqual(
      (await readMbox(path.join(root, owner, "INBOX"))).map((m) => m.subject),
      ["kept"],
    );
  // The store still works afterwards.
  const healthy = makeStore(t, root);
  await healthy.deliver(
    makeEnvelope(SENDER, ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("after")),
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["kept", "after"],
  );
}

// Files are appended in sorted path order: bob/INBOX, bob/mail/..., carol/INBOX, ... dave/mail/...
// A fault in the last file means five appends were already made and must be undone.
const last = (file: string) => file.endsWith(folderOf("dave"));
const middle = (file: string) => file.endsWith(path.join("carol", "INBOX"));

test("EIO on the last file rolls back the five appends already made", async (t) => {
  await expectRolledBack(t, { beforeWrite: (file) => (last(file) ? faultError("EIO", file) : undefined) }, "EIO");
});

test("ENOSPC in the middle rolls back the earlier files and never touches the later ones", async (t) => {
  await expectRolledBack(
    t,
    { beforeWrite: (file) => (middle(file) ? faultError("ENOSPC", file) : undefined) },
    "ENOSPC",
  );
});

test("a short write (part of the message really written) is truncated away and rolled back", async (t) => {
  await expectRolledBack(
    t,
    { shortWrite: (file, _attempt, length) => (last(file) ? Math.floor(length / 3) : undefined) },
    "short write",
  );
});

test("a failed fsync is rolled back too", async (t) => {
  await expectRolledBack(t, { beforeFsync: (file) => (middle(file) ? faultError("EIO", file) : undefined) }, "fsync");
});

test("group commit: a message failing elsewhere is cut out of the middle of a shared batch", async (t) => {
  const root = await makeMailRoot(t);
  const doomedFolder = folderName("bob@semail.test", "mallory@example.org");
  const store = makeStore(t, root, {
    faults: { beforeWrite: (file) => (file.endsWith(doomedFolder) ? faultError("EIO", file) : undefined) },
  });
  const senders = ["a1@example.org", "a2@example.org", "mallory@example.org", "a3@example.org", "a4@example.org"];
  const results = await Promise.allSettled(
    senders.map((sender) =>
      store.deliver(
        makeEnvelope(sender, ["bob@semail.test"]),
        [target("bob")],
        messageStream(simpleMessage(sender, `body of ${sender}\n`)),
      ),
    ),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"],
  );
  const inbox = await readMbox(path.join(root, "bob", "INBOX"));
  // Arrival order depends on the streams; the content does not.
  assert.deepEqual(inbox.map((m) => m.subject).sort(), [
    "a1@example.org",
    "a2@example.org",
    "a3@example.org",
    "a4@example.org",
  ]);
  for (const m of inbox) assert.equal(m.body, `body of ${m.subject}\n`);
  assert.ok(
    !(await readdir(path.join(root, "bob", "mail"))).includes(doomedFolder) ||
      (await stat(path.join(root, "bob", "mail", doomedFolder))).size === 0,
  );
  assert.deepEqual((await readdir(path.join(root, "bob"))).sort(), ["INBOX", "mail"], "no lock left");
});

test("a real ENOSPC on a small ext4 filesystem rolls back every file", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to loop-mount an ext4 image");
  const work = await mkdtemp(path.join(tmpdir(), "semail-enospc-"));
  const image = path.join(work, "fs.img");
  const mountPoint = path.join(work, "mnt");
  await mkdir(mountPoint);
  await run("truncate", ["-s", "2M", image]);
  await run("mkfs.ext4", ["-q", "-F", image]);
  try {
    await run("mount", ["-o", "loop", image, mountPoint]);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    return t.skip(`cannot loop-mount here: ${(error as Error).message.split("\n")[0]}`);
  }
  t.after(async () => {
    await run("umount", [mountPoint]).catch(() => run("umount", ["-l", mountPoint]));
    await rm(work, { recursive: true, force: true });
  });
  const root = await filledRoot(t, mountPoint);
  const before = await snapshot(root);
  // The store checks the room before writing (room.test.ts), so the disk is filled behind
  // its back, by another writer, after the check and the first appends: carol's INBOX
  // then meets a real ENOSPC with bob's two files already written.
  const filler = path.join(mountPoint, "filler");
  const fillDisk = () => {
    const fd = openSync(filler, "w");
    try {
      for (let i = 0; i < 64; i++) writeSync(fd, Buffer.alloc(64 * 1024));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    } finally {
      closeSync(fd);
    }
  };
  const store = makeStore(t, root, {
    faults: { beforeWrite: (file, attempt) => (middle(file) && attempt === 0 ? void fillDisk() : undefined) },
  });
  // About 100 KB: six copies fit in the ~780 KB free, so the store's own check lets it through.
  const big = `${"y".repeat(999)}\n`.repeat(100);
  const error = await store
    .deliver(
      makeEnvelope(
        SENDER,
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("too big", big), 65536),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof RolledBackError, `expected a rollback, got ${String(error)}`);
  assert.deepEqual(await snapshot(root), before);
  // Space is back: a small message goes through.
  await rm(filler);
  await store.deliver(
    makeEnvelope(SENDER, ["carol@semail.test"]),
    [target("carol")],
    messageStream(simpleMessage("small")),
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "carol", "INBOX"))).map((m) => m.subject),
    ["kept", "small"],
  );
});
