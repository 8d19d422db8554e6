// Local mode's applier: each mailbox's root (a plain directory, or an image file on a loop
// mount), the zone, the daemons told. An apply redoes only what changed since the last one
// (what one added mailbox costs must not grow with the list: bench/scale), yet a root gone
// meanwhile is made again, and the next start checks every mailbox. Needs root: the roots
// are chowned to each mail uid, and images are loop-mounted (CI runs as root). A mailbox made
// again never gets the kept mail of another address unless its owner chose so.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chown, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { mailUid } from "../../../config/mail-uid.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import {
  createLocalApplier,
  createLocalZone,
  releaseLocalMounts,
  type LocalApplierOptions,
} from "../../../deploy/local/applier.ts";
import { needsRoot, needsLoopDevices } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const options = { managedDomain: "semail.test", defaultSize: 16 * 1024 ** 2, minSize: 16 * 1024 ** 2 };
const list = (...owners: string[]) =>
  parseUsersList(
    `mailboxes:\n${owners.map((o) => `  - {owner: ${o}, address: ${o}@${o}.semail.test}\n`).join("")}`,
    options,
  );
const skipPlain = needsRoot;
const skipImages = needsLoopDevices;

/** An applier's options in a fresh directory; what it published and how often it told the daemons. */
async function place(t: TestContext, images: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "semail-applier-"));
  const published: Array<string | undefined> = [];
  const notified: string[][] = [];
  const settings: LocalApplierOptions = {
    mailRoot: join(dir, "mail"),
    ...(images ? { imageDir: join(dir, "images") } : {}),
    fstab: join(dir, "fstab"),
    zone: createLocalZone({ domain: "semail.test", ipv4: "127.0.0.1", serialFile: join(dir, "serial") }),
    publishZone: async (_name, text) => void published.push(text),
    notifyDaemons: async (list) => void notified.push(list.mailboxes.map((m) => m.owner)),
  };
  t.after(async () => {
    await releaseLocalMounts(settings).catch(() => undefined);
    const loops = (await run("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"]).catch(() => ({ stdout: "" }))).stdout
      .split("\n")
      .filter((l) => l.includes(dir));
    for (const line of loops) await run("losetup", ["-d", line.trim().split(/\s+/)[0]!]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return { settings, published, notified };
}

const apply = (applier: ReturnType<typeof createLocalApplier>, owners: string[]) =>
  applier.apply({ list: list(...owners), logger: silentLogger(), signal: new AbortController().signal });
const ownerUid = async (path: string) => (await stat(path)).uid;
const mountSource = async (target: string) =>
  (await run("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", target]).catch(() => ({ stdout: "" }))).stdout.trim();

test("plain roots: an added mailbox is made; one made before is left as it is, unless its root is gone", {
  skip: skipPlain,
}, async (t) => {
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
  assert.deepEqual(
    notified,
    [
      ["alice", "bob"],
      ["alice", "bob", "carol"],
    ],
    "the daemons are handed each list applied, not left to read it again",
  );

  // The next start (a new applier) checks every mailbox once.
  await apply(createLocalApplier(settings), ["alice", "bob", "carol"]);
  assert.equal(await ownerUid(root("alice")), mailUid("alice"));
});

test("image roots: an added mailbox is mounted, one unmounted meanwhile is mounted again, a removed one is unmounted", {
  skip: skipImages,
}, async (t) => {
  const { settings } = await place(t, true);
  const root = (owner: string) => join(settings.mailRoot, owner);
  const applier = createLocalApplier(settings);
  await apply(applier, ["alice"]);
  assert.match(await mountSource(root("alice")), /^\/dev\/loop\d+$/);

  await run("umount", [root("alice")]);
  assert.equal(await mountSource(root("alice")), "");
  await apply(applier, ["alice", "bob"]);
  assert.match(await mountSource(root("bob")), /^\/dev\/loop\d+$/, "the added mailbox is mounted");
  assert.match(
    await mountSource(root("alice")),
    /^\/dev\/loop\d+$/,
    "a filesystem unmounted since the last apply is mounted again",
  );
  assert.equal(await ownerUid(join(root("bob"), "INBOX")), mailUid("bob"));

  await apply(applier, ["bob"]);
  assert.equal(await mountSource(root("alice")), "", "a removed mailbox is unmounted");
  assert.doesNotMatch(await readFile(settings.fstab, "utf8"), /\/alice /);
  assert.ok(existsSync(join(settings.imageDir!, "alice.img")), "its image, and the mail in it, stay");
  // Added back: mounted again, although this applier had made it before.
  await apply(applier, ["alice", "bob"]);
  assert.match(await mountSource(root("alice")), /^\/dev\/loop\d+$/);
});

/** A list with these (owner, address) mailboxes. */
const listWith = (...mailboxes: Array<[owner: string, address: string]>) =>
  parseUsersList(`mailboxes:\n${mailboxes.map(([o, a]) => `  - {owner: ${o}, address: ${a}}\n`).join("")}`, options);
const applyList = (applier: ReturnType<typeof createLocalApplier>, l: ReturnType<typeof listWith>) =>
  applier.apply({ list: l, logger: silentLogger(), signal: new AbortController().signal });

for (const images of [true, false]) {
  const kind = images ? "image roots" : "plain roots";
  test(`${kind}: a mailbox made again gets its kept mail only for the same address or when its owner chose to bring it back; else it starts empty and the kept mail is set aside, never deleted`, {
    skip: images ? skipImages : skipPlain,
  }, async (t) => {
    const { settings } = await place(t, images);
    const inbox = join(settings.mailRoot, "alice", "INBOX");
    const aside = images ? join(settings.imageDir!, "set-aside") : join(settings.mailRoot, ".semail-set-aside");
    const asideFiles = async () => (await readdir(aside).catch(() => [] as string[])).sort();
    const applier = createLocalApplier(settings);
    const first = listWith(["alice", "alice@alice.semail.test"]);
    await applyList(applier, first);
    await appendFile(inbox, "From a@example.org Thu Jan  1 00:00:00 2026\nSubject: kept\n\nfirst life\n");

    // Deleted: the mail stays, and the applier tells the form what is kept.
    await applyList(applier, listWith());
    const kept = await applier.keptMail!("alice");
    assert.equal(kept?.address, "alice@alice.semail.test");
    assert.equal(kept?.inUse, false);
    if (images) assert.equal(kept?.bytes, 16 * 1024 ** 2);
    assert.equal(await applier.keptMail!("bob"), undefined, "nothing kept of a mailbox that never was");

    // Made again, unasked, for another address: it starts empty; the old mail is set aside.
    await applyList(applier, listWith(["alice", "alice@elsewhere.example"]));
    assert.equal(await readFile(inbox, "utf8"), "", "the new address does not get the old mail");
    const setAside = await asideFiles();
    assert.equal(setAside.length, 2, `the storage and its address record: ${setAside.join(", ")}`);
    const storage = join(aside, setAside.find((f) => !f.endsWith(".address"))!);
    assert.equal(
      await readFile(join(aside, setAside.find((f) => f.endsWith(".address"))!), "utf8"),
      "alice@alice.semail.test\n",
    );
    if (!images)
      assert.match(await readFile(join(storage, "INBOX"), "utf8"), /first life/, "the set-aside mail is all there");
    await appendFile(inbox, "From a@example.org Thu Jan  1 00:00:00 2026\nSubject: second\n\nsecond life\n");

    // Deleted again; the owner chooses on the form to bring the mail back into yet another address.
    await applyList(applier, listWith());
    await applier.decideKeptMail!("alice", "alice@third.semail.test", "restore");
    await applyList(applier, listWith(["alice", "alice@third.semail.test"]));
    assert.match(await readFile(inbox, "utf8"), /second life/, "brought back, as the owner chose");

    // Deleted again; this time the owner chooses to start empty, with the same address.
    await applyList(applier, listWith());
    await applier.decideKeptMail!("alice", "alice@third.semail.test", "set-aside");
    await applyList(applier, listWith(["alice", "alice@third.semail.test"]));
    assert.equal(await readFile(inbox, "utf8"), "", "started empty, as the owner chose");
    assert.equal((await asideFiles()).length, 4, "both earlier lives are set aside, neither deleted");

    // The same address made again with no choice (a hand edit of the list): its own mail comes back.
    await appendFile(inbox, "From a@example.org Thu Jan  1 00:00:00 2026\nSubject: third\n\nthird life\n");
    await applyList(applier, listWith());
    await applyList(applier, listWith(["alice", "alice@third.semail.test"]));
    assert.match(await readFile(inbox, "utf8"), /third life/);
    if (images) {
      // Not taken down yet (the deletion's apply has not run): nothing can be set aside now.
      assert.equal((await applier.keptMail!("alice"))?.inUse, true);
      await assert.rejects(
        applier.decideKeptMail!("alice", "alice@third.semail.test", "set-aside"),
        /still being taken down/,
      );
    }
  });
}
