// The per-file group-commit queue on its own: one lock and one write for messages that
// arrive together, and a message dropped from the middle of a batch cut out exactly.
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../../../../lib/logger.ts";
import { CrashMarkers, parseMarkers } from "../../../../../mailservers/inbound/store/append/crash-markers.ts";
import { UserOwnedTree } from "../../../../../mailservers/inbound/store/roots/user-owned-tree.ts";
import { MboxFile, type MboxFileContext } from "../../../../../mailservers/inbound/store/append/mbox-file.ts";
import { makeMailRoot } from "../fixture.ts";

async function setup(t: import("node:test").TestContext) {
  const root = await makeMailRoot(t);
  const markers = new CrashMarkers(path.join(root, ".tmp"));
  await mkdir(markers.dir, { recursive: true });
  const writes: string[] = [];
  const context: MboxFileContext = {
    logger: silentLogger(),
    lockTimeoutMs: 2000,
    markers,
    tree: new UserOwnedTree(root),
    faults: { beforeWrite: (file) => void writes.push(file) },
    writeAttempts: new Map(),
  };
  const bodies: string[] = [];
  for (const [i, text] of ["one\n\n", "two\n\n", "three\n\n"].entries()) {
    const body = path.join(root, `body${i}`);
    await writeFile(body, text);
    bodies.push(body);
  }
  // Message 1 is in memory, the others in temp files: both kinds of spooled body.
  const item = (i: number) => ({
    prefixes: [Buffer.from(`From x Thu Jan  1 00:00:00 2026\nN: ${i}\n\n`)],
    body:
      i === 1
        ? { size: 5, parts: [Buffer.from("tw"), Buffer.from("o\n\n")] }
        : { size: [5, 5, 7][i]!, path: bodies[i]! },
  });
  return { root, context, writes, item, markers };
}

test("messages queued together share one batch: one write, and the lock is held until all are settled", async (t) => {
  const { root, context, writes, item, markers } = await setup(t);
  const file = new MboxFile(path.join(root, "INBOX"), context);
  const appended = await Promise.all([0, 1, 2].map((i) => file.append(item(i))));
  assert.equal(writes.length, 1, "one write(2) for the three messages");
  assert.deepEqual(
    appended.map((a) => a.bytes),
    [item(0).prefixes[0]!.length + 5, item(1).prefixes[0]!.length + 5, item(2).prefixes[0]!.length + 7],
  );
  assert.ok((await readdir(root)).includes("INBOX.lock"), "lock held while verdicts are pending");
  assert.equal(
    parseMarkers(await readFile(markers.path)).length,
    1,
    "a crash marker is claimed while the batch is open",
  );
  await Promise.all(appended.map((a) => a.settle(true)));
  assert.ok(!(await readdir(root)).includes("INBOX.lock"));
  assert.deepEqual(parseMarkers(await readFile(markers.path)), []);
  assert.match(
    await readFile(path.join(root, "INBOX"), "utf8"),
    /N: 0\n\none\n\nFrom .*\nN: 1\n\ntwo\n\nFrom .*\nN: 2\n\nthree\n\n$/,
  );
});

test("a message dropped from the middle of a batch is cut out and the later ones written back", async (t) => {
  const { root, context, writes, item } = await setup(t);
  const file = new MboxFile(path.join(root, "INBOX"), context);
  await writeFile(path.join(root, "INBOX"), "From old Thu Jan  1 00:00:00 2026\n\nold\n\n");
  const appended = await Promise.all([0, 1, 2].map((i) => file.append(item(i))));
  await Promise.all([appended[0]!.settle(true), appended[1]!.settle(false), appended[2]!.settle(true)]);
  assert.equal(writes.length, 2, "the batch, then the write-back of message 2");
  const text = await readFile(path.join(root, "INBOX"), "utf8");
  assert.equal(
    text,
    "From old Thu Jan  1 00:00:00 2026\n\nold\n\n" +
      item(0).prefixes[0]!.toString() +
      "one\n\n" +
      item(2).prefixes[0]!.toString() +
      "three\n\n",
  );
  assert.ok(!(await readdir(root)).includes("INBOX.lock"));
});
