// Local mode's applier: each mailbox's root (a plain directory, or an image file on a loop
// mount), the zone, the daemons told. An apply redoes only what changed since the last one
// (what one added mailbox costs must not grow with the list: bench/scale), yet a root gone
// meanwhile is made again, and the next start checks every mailbox. Needs root: the roots
// are chowned to each mail uid, and images are loop-mounted (CI runs as root).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { mailUid } from "../../../config/mail-uid.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { createLocalApplier, createLocalZone, releaseLocalMounts, type LocalApplierOptions } from "../../../deploy/local/applier.ts";

const run = promisify(execFile);
const options = { managedDomain: "semail.test", defaultSize: 16 * 1024 ** 2, minSize: 16 * 1024 ** 2 };
const list = (...owners: string[]) =>
  parseUsersList(`mailboxes:\n${owners.map((o) => `  - {owner: ${o}, address: ${o}@${o}.semail.test}\n`).join("")}`, options);
const asRoot = process.getuid?.() === 0;
const skipPlain = asRoot ? false : "needs root to chown each root to its mail uid (CI runs as root)";
const skipImages = !asRoot ? "needs root for loop devices and mount (CI runs as root)"
  : !existsSync("/dev/loop-control") ? "no loop device support here (/dev/loop-control missing)" : false;

/** An applier's options in a fresh directory; what it published and how often it told the daemons. */
async function place(t: TestContext, images: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "semail-applier-"));
  const published: Array<string | undefined> = [];
  let notified = 0;
  const settings: LocalApplierOptions = {
    mailRoot: join(dir, "mail"),
    ...(images ? { imageDir: join(dir, "images") } : {}),
    fstab: join(dir, "fstab"),
    zone: createLocalZone({ domain: "semail.test", ipv4: "127.0.0.1", serialFile: join(dir, "serial") }),
    publishZone: async (_name, text) => void published.push(text),
    notifyDaemons: async () => void notified++,
  };
  t.after(async () => {
    await releaseLocalMounts(settings).catch(() => undefined);
    const loops = (await run("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"]).catch(() => ({ stdout: "" }))).stdout.split("\n").filter((l) => l.includes(dir));
    for (const line of loops) await run("losetup", ["-d", line.trim().split(/\s+/)[0]!]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return { settings, published, notified: () => notified };
}

const apply = (applier: ReturnType<typeof createLocalApplier>, owners: string[]) =>
  applier.apply({ list: list(...owners), logger: silentLogger(), signal: new AbortController().signal });
const ownerUid = async (path: string) => (await stat(path)).uid;
const mountSource = async (target: string) =>
  (await run("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", target]).catch(() => ({ stdout: "" }))).stdout.trim();

test("plain roots: an added mailbox is made; one made before is left as it is, unless its root is gone", { skip: skipPlain }, async (t) => {
  const { settings, published, notified } = await place(t, false);
  const root = (owner: string) => join(settings.mailRoot, owner);
  const applier = createLocalApplier(settings);
  await apply(applier, ["alice", "bob"]);
  for (const owner of ["alice", "bob"]) {
    assert.equal(await ownerUid(root(owner)), mailUid(owner));
    assert.equal(await ownerUid(join(root(owner), "INBOX")), mailUid(owner));
  }
  assert.equal(published.length, 1);
  assert.ok(published[0]?.includes("bob 3600 IN MX"));

  // Changed by hand meanwhile: alice's root handed to root, bob's root removed.
  await chown(root("alice"), 0, 0);
  await rm(root("bob"), { recursive: true });
  await apply(applier, ["alice", "bob", "carol"]);
  assert.equal(await ownerUid(root("carol")), mailUid("carol"), "the added mailbox is made");
  assert.equal(await ownerUid(root("bob")), mailUid("bob"), "a root gone since the last apply is made again");
  assert.equal(await readFile(join(root("bob"), "INBOX"), "utf8"), "");
  assert.equal(await ownerUid(root("alice")), 0, "a mailbox this applier made before is not done again");
  assert.equal(published.length, 2);
  assert.ok(published[1]?.includes("carol 3600 IN MX"));
  assert.equal(notified(), 2);

  // The next start (a new applier) checks every mailbox once.
  await apply(createLocalApplier(settings), ["alice", "bob", "carol"]);
  assert.equal(await ownerUid(root("alice")), mailUid("alice"));
});

test("image roots: an added mailbox is mounted, one unmounted meanwhile is mounted again, a removed one is unmounted", { skip: skipImages }, async (t) => {
  const { settings } = await place(t, true);
  const root = (owner: string) => join(settings.mailRoot, owner);
  const applier = createLocalApplier(settings);
  await apply(applier, ["alice"]);
  assert.match(await mountSource(root("alice")), /^\/dev\/loop\d+$/);

  await run("umount", [root("alice")]);
  assert.equal(await mountSource(root("alice")), "");
  await apply(applier, ["alice", "bob"]);
  assert.match(await mountSource(root("bob")), /^\/dev\/loop\d+$/, "the added mailbox is mounted");
  assert.match(await mountSource(root("alice")), /^\/dev\/loop\d+$/, "a filesystem unmounted since the last apply is mounted again");
  assert.equal(await ownerUid(join(root("bob"), "INBOX")), mailUid("bob"));

  await apply(applier, ["bob"]);
  assert.equal(await mountSource(root("alice")), "", "a removed mailbox is unmounted");
  assert.doesNotMatch(await readFile(settings.fstab, "utf8"), /\/alice /);
  assert.ok(existsSync(join(settings.imageDir!, "alice.img")), "its image, and the mail in it, stay");
  // Added back: mounted again, although this applier had made it before.
  await apply(applier, ["alice", "bob"]);
  assert.match(await mountSource(root("alice")), /^\/dev\/loop\d+$/);
});
