// A message that cannot fit in a mailbox (both copies, on its own filesystem) is refused
// (NoRoomError, the backend's 552 5.2.2) before a byte is written, never found out halfway
// by ENOSPC (a 451 on every retry); what the store says fits does fit. Real ext4 images, loop-mounted as
// mailbox-fs.sh mounts a mailbox.
import assert from "node:assert/strict";
import { statfsSync } from "node:fs";
import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../../../lib/logger.ts";
import { PROVISIONED_MARKER } from "../../../../../config/mailbox-layout.ts";
import { NoRoomError, createMboxStore, type MboxStore } from "../../../../../mailservers/inbound/store/index.ts";
import { diskCost, largestAppend, largestMessage } from "../../../../../mailservers/inbound/store/roots/room.ts";
import { claimedMarkers, makeEnvelope, makeStore, mountedExt4, readMbox, target, tempFiles } from "../fixture.ts";

const MiB = 1024 ** 2;
const SENDER = "alice@example.org";

/**
 * A message of exactly `size` bytes as a client sends it (CRLF lines of 80 bytes), made
 * while it is read: 30 MiB never sits in memory.
 */
function messageOfSize(subject: string, size: number): Readable {
  const head = Buffer.from(`From: <${SENDER}>\r\nTo: <bob@semail.test>\r\nSubject: ${subject}\r\n\r\n`);
  const line = Buffer.from(`${"x".repeat(78)}\r\n`);
  let left = size - head.length;
  let started = false;
  return new Readable({
    read() {
      if (!started) {
        started = true;
        this.push(head);
        return;
      }
      if (left <= 0) return void this.push(null);
      const lines = Math.min(Math.ceil(left / line.length), 1024);
      const chunk = Buffer.concat(Array.from({ length: lines }, () => line));
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      // The last line keeps its CRLF: cut the x's, not the line ending.
      const last =
        left <= chunk.length && left % line.length !== 0
          ? Buffer.concat([part.subarray(0, part.length - 2), Buffer.from("\r\n")])
          : part;
      left -= last.length;
      this.push(last);
    },
  });
}

/** Every file under `dir` with its size: what a refused delivery must leave as it was. */
async function sizes(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const full = path.join(dir, String(name));
    const info = await stat(full);
    out[String(name)] = info.isDirectory() ? -1 : info.size;
  }
  return out;
}

/** Mailbox-fs.sh's layout in a root: INBOX, mail/ and the marker. */
async function provisionLikeMailboxFs(root: string): Promise<void> {
  await mkdir(path.join(root, "mail"), { recursive: true, mode: 0o700 });
  for (const file of ["INBOX", PROVISIONED_MARKER])
    await writeFile(path.join(root, file), "", { flag: "a", mode: 0o600 });
}

/**
 * A mail root on the host's disk whose `owner` is a filesystem of its own of `bytes`, and
 * a store on it. The store is closed, then the image unmounted, then the root removed.
 */
async function mailRootWithImage(
  t: TestContext,
  owner: string,
  bytes: number,
  storeOptions: { minFreeSpace?: number } = {},
): Promise<{ mailRoot: string; root: string; store: MboxStore } | undefined> {
  const mailRoot = await mkdtemp(path.join(tmpdir(), "semail-room-"));
  const store = makeStore(t, mailRoot, storeOptions);
  const root = path.join(mailRoot, owner);
  const mounted = await mountedExt4(t, bytes, root);
  t.after(() => rm(mailRoot, { recursive: true, force: true }));
  if (typeof mounted !== "string") {
    t.skip(mounted.skip);
    return undefined;
  }
  await provisionLikeMailboxFs(root);
  return { mailRoot, root, store };
}

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

test("a 30 MiB message into a 64 MiB mailbox is refused (NoRoomError) and leaves nothing; what the store says fits goes in", async (t) => {
  const made = await mailRootWithImage(t, "bob", 64 * MiB);
  if (!made) return;
  const { mailRoot, root, store } = made;
  const bob = target("bob", "bob@semail.test", 64 * MiB);
  const before = await sizes(root);
  const freeBefore = freeBytes(root);
  const error = await store
    .deliver(makeEnvelope(SENDER, [bob.recipient]), [bob], messageOfSize("thirty", 30 * MiB))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof NoRoomError, `expected NoRoomError, got ${String(error)}`);
  assert.deepEqual(error.recipients, ["bob@semail.test"]);
  assert.deepEqual(await sizes(root), before, "nothing half-written, no lock, no folder");
  assert.equal(freeBytes(root), freeBefore, "not a block taken");
  assert.deepEqual(await tempFiles(mailRoot), [], "the temp body is removed");
  assert.deepEqual(await claimedMarkers(mailRoot), []);

  const largest = await store.largestMessage("bob", bob.quota);
  t.diagnostic(
    `64 MiB ext4: ${freeBytes(root)} bytes free, the largest message it takes is ${largest} bytes (${(largest / MiB).toFixed(2)} MiB)`,
  );
  assert.ok(largest < 30 * MiB && largest > 24 * MiB, `largest ${largest}`);
  // Exactly the largest it said: both copies go in.
  await store.deliver(makeEnvelope(SENDER, [bob.recipient]), [bob], messageOfSize("fits", largest));
  const [inbox] = await readMbox(path.join(root, "INBOX")).then((messages) => messages.map((m) => m.subject));
  assert.equal(inbox, "fits");
  const [folder] = await readdir(path.join(root, "mail"));
  assert.equal(
    (await stat(path.join(root, "mail", folder!))).size,
    (await stat(path.join(root, "INBOX"))).size,
    "the folder copy is whole",
  );
  t.diagnostic(`after it: ${freeBytes(root)} bytes free`);
  assert.ok((await store.largestMessage("bob", bob.quota)) < MiB, "little room left after it");
});

test("a mailbox root on the mail root's own filesystem keeps minFreeSpace there, and the temp body's room", async (t) => {
  // The mail root itself is an 8 MiB filesystem; bob's root is a plain directory on it.
  const outer = await mkdtemp(path.join(tmpdir(), "semail-room-"));
  let store: MboxStore | undefined;
  t.after(() => store?.close());
  const mailRoot = await mountedExt4(t, 8 * MiB, path.join(outer, "mail"));
  t.after(() => rm(outer, { recursive: true, force: true }));
  if (typeof mailRoot !== "string") return t.skip(mailRoot.skip);
  store = createMboxStore({ mailRoot, hostname: "mx.semail.test", logger: silentLogger(), minFreeSpace: 2 * MiB });
  await provisionLikeMailboxFs(path.join(mailRoot, "bob"));
  const bob = target("bob", "bob@semail.test", 64 * MiB);
  const free = freeBytes(mailRoot);
  const largest = await store.largestMessage("bob", bob.quota);
  t.diagnostic(`8 MiB ext4: ${free} bytes free, 2 MiB kept: the largest message is ${largest} bytes`);
  // Three copies (two appends and the temp body) in what is left above the 2 MiB.
  assert.ok(largest < (free - 2 * MiB) / 3 && largest > (free - 2 * MiB) / 3 - 256 * 1024, `largest ${largest}`);
  // Would fit without the reserve (two copies plus the temp body in the free space), not with it.
  const tooBig = Math.floor((free - 512 * 1024) / 3);
  const error = await store
    .deliver(makeEnvelope(SENDER, [bob.recipient]), [bob], messageOfSize("reserve", tooBig))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof NoRoomError, String(error));
  assert.equal((await stat(path.join(mailRoot, "bob", "INBOX"))).size, 0);
  await store.deliver(makeEnvelope(SENDER, [bob.recipient]), [bob], messageOfSize("fits", largest));
  assert.deepEqual(
    (await readMbox(path.join(mailRoot, "bob", "INBOX"))).map((m) => m.subject),
    ["fits"],
  );
});

test("two messages that fit one at a time but not together: one is stored, the other gets NoRoomError (552), never a rollback (451)", async (t) => {
  const made = await mailRootWithImage(t, "bob", 32 * MiB);
  if (!made) return;
  const { root, store } = made;
  const bob = target("bob", "bob@semail.test", 32 * MiB);
  const largest = await store.largestMessage("bob", bob.quota);
  const size = Math.floor(largest * 0.7);
  const results = await Promise.allSettled(
    ["one", "two"].map((subject) =>
      store.deliver(makeEnvelope(SENDER, [bob.recipient]), [bob], messageOfSize(subject, size)),
    ),
  );
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  const refused = results.find((r) => r.status === "rejected")!.reason as unknown;
  assert.ok(refused instanceof NoRoomError, `expected NoRoomError, got ${String(refused)}`);
  assert.equal((await readMbox(path.join(root, "INBOX"))).length, 1);
});

test("the room arithmetic: what largestAppend allows always costs no more than the room", () => {
  for (const blockSize of [1024, 4096]) {
    for (const room of [0, 5000, 1 << 20, 54_000_000, 54_000_000 + 777, 3 << 30]) {
      for (const copies of [2, 3]) {
        const bytes = largestAppend(room, copies, blockSize);
        assert.ok(bytes === 0 || copies * diskCost(bytes, blockSize) <= room, `${room}/${copies}/${blockSize}`);
        // Not needlessly small: a few blocks more would not fit.
        assert.ok(
          copies * diskCost(bytes + 8 * blockSize, blockSize) > room,
          `${room}/${copies}/${blockSize} leaves room unused`,
        );
      }
    }
  }
  assert.equal(largestMessage(-5, 1 << 30, 2, 4096), 0, "over quota: nothing");
  assert.equal(largestMessage(1 << 30, 0, 2, 4096), 0, "no disk: nothing");
  assert.ok(largestMessage(100 * MiB, 1 << 30, 2, 4096) <= 50 * MiB, "the quota holds both copies");
});
