// A move into a host whose mailbox root does not exist yet, with hosts.b.storage set: the move
// makes b's filesystem with the real assets/host/mailbox-fs.sh (an ext4 image on a loop device),
// locally (no ssh). A failed move leaves that filesystem mounted and emptied, and the retry
// takes it as it is; then the program's own `create` on b (same owner, size and address, as b's
// list now says) finds it made and changes nothing. Needs root and loop devices; everything is
// unmounted and detached afterwards.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { promisify } from "node:util";
import { parseSettings, usersListOptions, type Settings } from "../../../config/settings.ts";
import { mailboxFsArguments, type MailboxStorage } from "../../../config/stack/mailbox-storage.ts";
import { loadUsersList } from "../../../config/users-file.ts";
import { shellQuote } from "../../../lib/shell.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { moveMailbox, MoveError } from "../../../services/move/index.ts";
import { planMove } from "../../../services/move/plan.ts";
import { needsLoopDevices } from "../../../testkit/needs-root.ts";
import { sshdMissing, startTestSshd } from "../../../testkit/rig/providers/sshd-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { OWNER, releaseWhenMoving, twoHosts } from "./fixture.ts";

const run = promisify(execFile);
const logger = silentLogger();
const MiB = 1024 * 1024;
const SCRIPT = repoPath("assets/host/mailbox-fs.sh");

/** b's mail root, image dir, fstab and records in a dir of their own; unmounted and detached after. */
async function storagePlace(t: TestContext) {
  const dir = await mkdtemp(path.join(tmpdir(), "semail-move-fs-"));
  t.after(async () => {
    const lines = async (file: string, args: string[]) =>
      (await run(file, args).catch(() => ({ stdout: "" }))).stdout.split("\n").filter((l) => l.includes(dir));
    for (const mount of await lines("findmnt", ["-n", "-l", "-o", "TARGET"]))
      await run("umount", ["-l", mount.trim()]).catch(() => undefined);
    for (const loop of await lines("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"]))
      await run("losetup", ["-d", loop.trim().split(/\s+/)[0]!]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const paths = {
    mailRoot: path.join(dir, "mail"),
    imageDir: path.join(dir, "images"),
    fstab: path.join(dir, "fstab"),
    state: path.join(dir, "state"),
  };
  // mailbox-fs.sh as the host has it, with this test's fstab and records (options may follow the action).
  const mailboxFs = [
    "sh",
    "-c",
    `exec bash ${shellQuote(SCRIPT)} "$@" --fstab ${shellQuote(paths.fstab)} --state-dir ${shellQuote(paths.state)}`,
    "mailbox-fs",
  ];
  return { ...paths, mailboxFs };
}

/** What is mounted at `target` ("" for nothing). */
async function mountedAt(target: string): Promise<string> {
  return (
    await run("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", target]).catch(() => ({ stdout: "" }))
  ).stdout.trim();
}

describe("semail mailbox move: the target's filesystem", { skip: needsLoopDevices }, () => {
  it("makes b's filesystem, keeps it for a retry after a failure, and the program's create accepts it", async (t) => {
    const { main, b } = await twoHosts(t);
    const fs = await storagePlace(t);
    const settings: Settings = {
      ...main.settings,
      defaultMailboxSize: 32 * MiB,
      hosts: { b: { ...main.settings.hosts.b!, mailRoot: fs.mailRoot, storage: { imageDir: fs.imageDir } } },
    };
    const target = path.join(fs.mailRoot, OWNER);
    const inbox = "From a@b Thu Jan  1 00:00:00 2026\nSubject: one\n\nHello.\n\n";
    await writeFile(path.join(main.root(), "INBOX"), inbox);
    await writeFile(path.join(main.root(), "mail", "work"), "From b@c Thu Jan  1 00:00:00 2026\n\nBody\n\n");
    await assert.rejects(stat(target), { code: "ENOENT" }, "b has no root for ada yet");

    // No daemon lets go: the move fails after making the filesystem, which stays, emptied.
    await assert.rejects(
      moveMailbox(
        settings,
        { id: OWNER, to: "b", waitMs: 300, removeSource: false },
        { logger, mailboxFs: fs.mailboxFs },
      ),
      (error: Error) => error instanceof MoveError && /did not let go/.test(error.message),
    );
    const loop = await mountedAt(target);
    assert.match(loop, /^\/dev\/loop\d+$/, "b's root is its own filesystem");
    assert.equal((await stat(path.join(fs.imageDir, `${OWNER}.img`))).size, 32 * MiB);
    assert.deepEqual((await readdir(target)).sort(), [".semail-mailbox", "INBOX", "lost+found", "mail"]);
    assert.equal((await stat(path.join(target, "INBOX"))).size, 0, "the partial copy is emptied");
    assert.deepEqual(await readdir(path.join(target, "mail")), []);

    // The retry takes the filesystem as it is: the same loop device, one fstab line.
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const result = await moveMailbox(
      settings,
      { id: OWNER, to: "b", waitMs: 10_000, removeSource: false },
      { logger, mailboxFs: fs.mailboxFs },
    );
    assert.equal(result.provisioned, true);
    assert.equal(result.files, 2);
    assert.equal(await mountedAt(target), loop, "not a second filesystem");
    assert.equal(await readFile(path.join(target, "INBOX"), "utf8"), inbox);
    const image = path.join(fs.imageDir, `${OWNER}.img`);
    const fstabLine = `${image} ${target} ext4 loop,nodev,nosuid,noexec 0 2\n`;
    assert.equal(await readFile(fs.fstab, "utf8"), fstabLine);
    assert.equal(await readFile(path.join(fs.imageDir, `${OWNER}.address`), "utf8"), "ada@semail.test\n");

    // The program on b, its list now saying host b, runs the same create for the entry: nothing changes.
    const entry = (await loadUsersList(b.users, usersListOptions(settings))).byOwner(OWNER)!;
    assert.equal(entry.host, "b");
    const storage: MailboxStorage = { backend: "image", imageDir: fs.imageDir, mailRoot: fs.mailRoot };
    const again = await run(fs.mailboxFs[0]!, [
      ...fs.mailboxFs.slice(1),
      ...mailboxFsArguments("create", entry, storage),
    ]);
    assert.equal(again.stderr, "", "create says nothing: the size and the address are the ones it made");
    assert.equal(await mountedAt(target), loop);
    assert.equal(await readFile(path.join(target, "INBOX"), "utf8"), inbox, "the moved mail stays");
    assert.equal(await readFile(fs.fstab, "utf8"), fstabLine, "one fstab line");
  });
});

describe("semail mailbox move: the target's filesystem over ssh", { skip: needsLoopDevices || sshdMissing() }, () => {
  it("makes b's filesystem over the move's ssh, then copies into it", async (t) => {
    const sshd = await startTestSshd();
    t.after(() => sshd.stop());
    const keys = await tempDir(t, "semail-move-ssh-");
    await writeFile(path.join(keys, "id"), sshd.privateKey, { mode: 0o600 });
    await writeFile(path.join(keys, "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
    const sshCommand = [
      "ssh",
      "-i",
      path.join(keys, "id"),
      "-o",
      `UserKnownHostsFile=${path.join(keys, "known_hosts")}`,
    ];
    const { main } = await twoHosts(t, { ssh: `${sshd.user}@127.0.0.1:${sshd.port}` });
    const fs = await storagePlace(t);
    const settings: Settings = {
      ...main.settings,
      defaultMailboxSize: 32 * MiB,
      hosts: { b: { ...main.settings.hosts.b!, mailRoot: fs.mailRoot, storage: { imageDir: fs.imageDir } } },
    };
    await writeFile(path.join(main.root(), "INBOX"), "From a@b Thu Jan  1 00:00:00 2026\n\nover ssh\n\n");
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const result = await moveMailbox(
      settings,
      { id: OWNER, to: "b", waitMs: 10_000, removeSource: false },
      { logger, sshCommand, mailboxFs: fs.mailboxFs },
    );
    assert.equal(result.provisioned, true);
    const target = path.join(fs.mailRoot, OWNER);
    assert.match(await mountedAt(target), /^\/dev\/loop\d+$/);
    assert.match(await readFile(path.join(target, "INBOX"), "utf8"), /over ssh/);
  });
});

describe("semail mailbox move: a target without its root", () => {
  it("says which setting to set when b has no root and no storage", async (t) => {
    const { main } = await twoHosts(t);
    const mailRoot = path.join(path.dirname(main.users), "b-without-roots");
    const settings: Settings = { ...main.settings, hosts: { b: { ...main.settings.hosts.b!, mailRoot } } };
    await assert.rejects(
      moveMailbox(settings, { id: OWNER, to: "b", waitMs: 300, removeSource: false }, { logger }),
      /has no mailbox root for ada at .*: provision it there first .*, or set hosts\.b\.storage and the move makes it$/,
    );
  });

  it("reads hosts.<name>.storage as a volume group or an image dir, and refuses anything else", async (t) => {
    const { main } = await twoHosts(t);
    const list = await loadUsersList(main.users, usersListOptions(main.settings));
    const withStorage = (storage: unknown) => {
      const raw = main.raw as { hosts: { b: Record<string, unknown> } };
      return parseSettings({ ...raw, hosts: { b: { ...raw.hosts.b, storage } } }, "host main");
    };
    assert.deepEqual(planMove(withStorage({ vg: "semail" }), list, OWNER, "b").targetStorage, {
      backend: "lvm",
      vgName: "semail",
      mailRoot: main.settings.hosts.b!.mailRoot,
    });
    assert.deepEqual(planMove(withStorage({ imageDir: "/var/lib/semail/images" }), list, OWNER, "b").targetStorage, {
      backend: "image",
      imageDir: "/var/lib/semail/images",
      mailRoot: main.settings.hosts.b!.mailRoot,
    });
    assert.equal(planMove(main.settings, list, OWNER, "b").targetStorage, undefined);
    for (const bad of [{ vg: "a b" }, { imageDir: "relative" }, { vg: "semail", imageDir: "/x" }])
      assert.throws(() => withStorage(bad), /hosts\.b\.storage/, JSON.stringify(bad));
  });
});
