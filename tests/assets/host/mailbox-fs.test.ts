// assets/host/mailbox-fs.sh for real: image files on loop devices, ext4, mount,
// populate, grow, unmount, destroy. Needs root (CI runs as root); LVM only as a dry run.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { repoPath } from "../../../testkit/repo-path.ts";
import { until } from "../../../testkit/until.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsLoopDevices } from "../../../testkit/needs-root.ts";

const SCRIPT = repoPath("assets/host/mailbox-fs.sh");
const MiB = 1024 * 1024;
const skip = needsLoopDevices;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
function sh(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((done) => {
    execFile(file, args, { timeout: 60_000, env }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
const mailboxFs = (action: string, ...args: string[]) => sh("bash", [SCRIPT, action, ...args]);

/** A temporary mail root, image dir and fstab; everything unmounted and detached afterwards. */
async function place(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), "semail-mailbox-fs-"));
  const paths = { dir, mailRoot: join(dir, "mail"), imageDir: join(dir, "images"), fstab: join(dir, "fstab") };
  t.after(async () => {
    for (let i = 0; i < 5; i++) {
      const mounts = (await sh("findmnt", ["-n", "-l", "-o", "TARGET"])).stdout
        .split("\n")
        .filter((m) => m.startsWith(dir));
      if (mounts.length === 0) break;
      for (const m of mounts) await sh("umount", ["-l", m]);
    }
    const loops = (await sh("losetup", ["-n", "-O", "NAME,BACK-FILE", "-l"])).stdout
      .split("\n")
      .filter((l) => l.includes(dir));
    for (const line of loops) await sh("losetup", ["-d", line.trim().split(/\s+/)[0]!]);
    await rm(dir, { recursive: true, force: true });
  });
  const common = (owner = "alice") => [
    "--owner",
    owner,
    "--mail-root",
    paths.mailRoot,
    "--image-dir",
    paths.imageDir,
    "--fstab",
    paths.fstab,
  ];
  return { ...paths, common };
}

const source = async (target: string) =>
  (await sh("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", target])).stdout.trim();
const fsBytes = async (target: string) =>
  Number((await sh("df", ["-B1", "--output=size", target])).stdout.split("\n")[1]);

test("create makes, formats, mounts and populates an image; a second run changes nothing", { skip }, async (t) => {
  const p = await place(t);
  const first = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB));
  assert.equal(first.code, 0, first.stderr);
  const image = join(p.imageDir, "alice.img");
  const target = join(p.mailRoot, "alice");
  assert.equal((await stat(image)).size, 32 * MiB);
  assert.equal((await sh("blkid", ["-p", "-o", "value", "-s", "TYPE", image])).stdout.trim(), "ext4");
  const loop = await source(target);
  assert.match(loop, /^\/dev\/loop\d+$/);
  assert.equal((await stat(join(target, "INBOX"))).mode & 0o777, 0o600);
  assert.ok((await stat(join(target, "mail"))).isDirectory());
  assert.equal((await stat(join(target, "mail"))).mode & 0o777, 0o700);
  const options = (await sh("findmnt", ["-n", "-o", "OPTIONS", "--mountpoint", target])).stdout;
  for (const o of ["nodev", "nosuid", "noexec"]) assert.match(options, new RegExp(o));
  assert.equal(await readFile(p.fstab, "utf8"), `${image} ${target} ext4 loop,nodev,nosuid,noexec 0 2\n`);

  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\nSubject: kept\n\nhello\n");
  const second = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB));
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stderr, "");
  assert.equal(await source(target), loop, "the same loop device, not a second mount");
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /Subject: kept/);
  assert.equal((await readFile(p.fstab, "utf8")).split("\n").length, 2, "one fstab line");
});

test("grow enlarges the filesystem and keeps the mail; shrinking is refused", { skip }, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nkeep me\n");
  const before = await fsBytes(target);
  const grown = await mailboxFs("grow", ...p.common(), "--size", String(64 * MiB));
  assert.equal(grown.code, 0, grown.stderr);
  assert.match(grown.stderr, /grew .* from 33554432 to 67108864 bytes/);
  assert.equal((await stat(join(p.imageDir, "alice.img"))).size, 64 * MiB);
  const after = await fsBytes(target);
  assert.ok(after > before + 28 * MiB, `filesystem grew (${before} -> ${after})`);
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /keep me/);
  assert.equal(
    (await mailboxFs("grow", ...p.common(), "--size", String(64 * MiB))).stderr,
    "",
    "growing to the same size does nothing",
  );

  const shrink = await mailboxFs("grow", ...p.common(), "--size", String(32 * MiB));
  assert.notEqual(shrink.code, 0);
  assert.match(shrink.stderr, /shrinking is not supported/);
  assert.equal(await fsBytes(target), after);
});

test("a grow whose online resize is refused resizes offline, mounts again and has the room", { skip }, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nkeep me\n");
  const before = await fsBytes(target);
  // A resize2fs that refuses mounted loop devices, as the kernel sometimes does, and resizes the rest.
  const bin = join(p.dir, "bin");
  await mkdir(bin);
  const real = (await sh("bash", ["-c", "command -v resize2fs"])).stdout.trim();
  await writeFile(
    join(bin, "resize2fs"),
    `#!/bin/sh\ncase "$1" in /dev/loop*) echo "resize2fs: Permission denied to resize filesystem" >&2; exit 1 ;; esac\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  const grown = await sh("bash", [SCRIPT, "grow", ...p.common(), "--size", String(64 * MiB)], {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
  });
  assert.equal(grown.code, 0, grown.stderr);
  assert.match(
    grown.stderr,
    /online resize of \/dev\/loop\d+ refused \(resize2fs: Permission denied to resize filesystem\); resizing offline/,
  );
  assert.match(grown.stderr, /grew .* from 33554432 to 67108864 bytes/);
  const after = await fsBytes(target);
  assert.ok(after > before + 28 * MiB, `the filesystem mounted again has the room (${before} -> ${after})`);
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /keep me/);
});

test("unmount keeps the image; create mounts it again with the mail; destroy needs confirmation", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  const image = join(p.imageDir, "alice.img");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nstill here\n");
  assert.equal((await mailboxFs("unmount", ...p.common())).code, 0);
  assert.equal(await source(target), "");
  // The kernel frees an autoclear loop device once its last user is gone, a moment after umount.
  await until(async () => (await sh("losetup", ["-j", image])).stdout === "", "the loop device to be released", 10_000);
  assert.equal(await readFile(p.fstab, "utf8"), "");
  assert.ok(existsSync(image), "the image (the mail) is kept");

  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /still here/);

  const refused = await mailboxFs("destroy", ...p.common());
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /add --yes-destroy-mail to confirm/);
  assert.ok(existsSync(image));
  const destroyed = await mailboxFs("destroy", ...p.common(), "--yes-destroy-mail");
  assert.equal(destroyed.code, 0, destroyed.stderr);
  assert.ok(!existsSync(image));
  assert.ok(!existsSync(target));
  assert.equal((await mailboxFs("destroy", ...p.common(), "--yes-destroy-mail")).code, 0, "destroy is idempotent too");
});

/** Whether the process `pid` has a child running `sleep` (mailbox-fs.sh waiting between two tries). */
async function sleepingChild(pid: number): Promise<boolean> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const [comm, rest] = [
      stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
      stat.slice(stat.lastIndexOf(")") + 2),
    ];
    if (comm === "sleep" && Number(rest.split(" ")[1]) === pid) return true;
  }
  return false;
}

test("unmount tries again for a few seconds while the mount is busy: a file let go meanwhile (the store's, kept open 2 s) does not fail it; one held on does", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  const hold = () => {
    const holder = spawn("bash", ["-c", "exec 3>>INBOX; exec sleep 60"], { cwd: target, stdio: "ignore" });
    t.after(() => holder.kill("SIGKILL"));
    return holder;
  };

  const brief = hold();
  const unmounting = spawn("bash", [SCRIPT, "unmount", ...p.common()], { stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => unmounting.once("exit", resolve));
  await until(() => sleepingChild(unmounting.pid!), "mailbox-fs.sh to wait between two tries of umount");
  brief.kill("SIGKILL");
  assert.equal(await exited, 0, "unmounted once the file was let go");
  assert.equal(await source(target), "");

  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB))).code, 0);
  const held = hold();
  await until(
    async () => (await readdir(`/proc/${held.pid}/fd`).catch(() => [])).length > 3,
    "the holder to open INBOX",
  );
  const busy = await mailboxFs("unmount", ...p.common());
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /target is busy/);
  assert.notEqual(await source(target), "", "still mounted");
});

test("never formats a device that holds a filesystem or data", { skip }, async (t) => {
  const p = await place(t);
  await mkdir(p.imageDir, { recursive: true });
  const image = join(p.imageDir, "alice.img");
  // Another filesystem type (it could hold mail from an older setup).
  assert.equal((await sh("truncate", ["-s", "32M", image])).code, 0);
  assert.equal((await sh("mkfs.ext2", ["-q", "-F", image])).code, 0);
  const ext2 = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB));
  assert.notEqual(ext2.code, 0);
  assert.match(ext2.stderr, /holds a ext2 filesystem; refusing to format it/);
  assert.equal((await sh("blkid", ["-p", "-o", "value", "-s", "TYPE", image])).stdout.trim(), "ext2", "left as it was");

  // No filesystem signature, but not blank either (an mbox written to the raw file).
  const mbox = join(p.imageDir, "bob.img");
  await writeFile(mbox, "From someone@example.org Mon Nov 23 00:00:00 2026\nSubject: precious\n\n".repeat(1000));
  const data = await mailboxFs("create", ...p.common("bob"), "--size", String(32 * MiB));
  assert.notEqual(data.code, 0);
  assert.match(data.stderr, /is not blank .*refusing to format it/);
  assert.match(await readFile(mbox, "utf8"), /Subject: precious/);
});

test("never mounts over a mail directory that holds files", { skip }, async (t) => {
  const p = await place(t);
  await mkdir(join(p.mailRoot, "alice"), { recursive: true });
  await writeFile(
    join(p.mailRoot, "alice", "INBOX"),
    "From a@b Mon Nov 23 00:00:00 2026\n\nwritten before the mount\n",
  );
  const result = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB));
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /is not a mount but holds files/);
  assert.equal(await source(join(p.mailRoot, "alice")), "");
});

// No device-mapper here: the LVM variant is checked as a dry run and for its arguments only.
test("lvm variant (dry run): the commands it would run", async (t) => {
  const dir = await tempDir(t, "semail-lvm-");
  const result = await mailboxFs(
    "create",
    "--owner",
    "alice",
    "--size",
    String(64 * MiB),
    "--mail-root",
    join(dir, "mail"),
    "--vg",
    "semail",
    "--fstab",
    join(dir, "fstab"),
    "--dry-run",
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n"), [
    "+ lvcreate --yes --wipesignatures n -L 64m -n mail-alice semail",
    "+ mkfs.ext4 -q -F -m 0 -L mail-alice /dev/semail/mail-alice",
    `+ mkdir -p ${dir}/mail/alice`,
    `+ mount -t ext4 -o nodev,nosuid,noexec /dev/semail/mail-alice ${dir}/mail/alice`,
    `+ append to ${dir}/fstab: /dev/semail/mail-alice ${dir}/mail/alice ext4 nodev,nosuid,noexec 0 2`,
    `+ populate ${dir}/mail/alice/INBOX and ${dir}/mail/alice/mail/`,
  ]);
  assert.ok(!existsSync(join(dir, "mail")), "a dry run changes nothing");
});

test("bad arguments exit non-zero with a clear message", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["create", "--owner", "../etc", "--size", "67108864", "--mail-root", "/var/mail/semail", "--vg", "semail"],
      /--owner "..\/etc" is not a valid owner id/,
    ],
    [
      ["create", "--owner", "alice", "--size", "67108864", "--mail-root", "/var/mail/semail"],
      /give --image-dir DIR \(image files\) or --vg NAME \(LVM\)/,
    ],
    [
      ["create", "--owner", "alice", "--size", "67108864", "--mail-root", "/m", "--vg", "a", "--image-dir", "/i"],
      /not both/,
    ],
    [
      ["create", "--owner", "alice", "--size", "5GiB", "--mail-root", "/m", "--vg", "semail"],
      /--size "5GiB" must be a byte count/,
    ],
    [
      ["create", "--owner", "alice", "--size", "1048576", "--mail-root", "/m", "--vg", "semail"],
      /below the 16 MiB minimum/,
    ],
    [
      ["create", "--owner", "alice", "--size", "67108864", "--mail-root", "relative", "--vg", "semail"],
      /--mail-root "relative" must be an absolute path/,
    ],
    [
      ["create", "--owner", "alice", "--size", "67108864", "--mail-root", "/m", "--vg", "bad vg"],
      /--vg "bad vg" is not a volume group name/,
    ],
    [["resize", "--owner", "alice"], /unknown action "resize"/],
  ];
  for (const [args, message] of cases) {
    const [action, ...rest] = args;
    const result = await mailboxFs(action!, ...rest, "--dry-run");
    assert.equal(result.code, 1, args.join(" "));
    assert.match(result.stderr, message);
    assert.equal(result.stdout, "", "nothing done");
  }
});

test("a user's link in place of INBOX or mail/ is never followed by the chown: the host's file keeps its owner", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal(
    (await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--uid", "1000", "--gid", "1000")).code,
    0,
  );
  // What sudo in the user's container could do: INBOX and mail/ become links to the host's files.
  const victim = join(p.imageDir, "..", "victim");
  await writeFile(victim, "root's\n");
  await rm(join(target, "INBOX"));
  await symlink(victim, join(target, "INBOX"));
  await rm(join(target, "mail"), { recursive: true });
  await symlink(p.imageDir, join(target, "mail"));
  assert.equal(
    (await mailboxFs("grow", ...p.common(), "--size", String(32 * MiB), "--uid", "1001", "--gid", "1001")).code,
    0,
  );
  assert.equal((await stat(victim)).uid, 0, "the file INBOX points at is still root's");
  assert.equal((await stat(p.imageDir)).uid, 0, "so is the folder mail/ points at");
  assert.equal((await lstat(join(target, "INBOX"))).uid, 1001, "the link itself is the user's");
});

// Issue 20: a mailbox made again never gets an earlier mailbox's mail under another address unasked.
const ALICE_AT_X = "alice@x.semail.email";
const ALICE_AT_Y = "alice@example.org";
const kept = async (p: Awaited<ReturnType<typeof place>>) => {
  const result = await mailboxFs("kept", ...p.common());
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>;
};
const asideImages = async (p: Awaited<ReturnType<typeof place>>) =>
  existsSync(join(p.imageDir, "set-aside")) ? (await readdir(join(p.imageDir, "set-aside"))).sort() : [];

test("create with the same address reattaches the kept filesystem and its mail; kept reports it", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.deepEqual(await kept(p), { kept: false });
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X)).code, 0);
  const record = join(p.imageDir, "alice.address");
  assert.equal(await readFile(record, "utf8"), `${ALICE_AT_X}\n`);
  assert.equal((await stat(record)).mode & 0o777, 0o600);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nold mail\n");
  assert.deepEqual(await kept(p), { kept: true, bytes: 32 * MiB, mounted: true, address: ALICE_AT_X });

  assert.equal((await mailboxFs("unmount", ...p.common())).code, 0);
  assert.deepEqual(await kept(p), { kept: true, bytes: 32 * MiB, mounted: false, address: ALICE_AT_X });
  const again = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stderr, "");
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /old mail/);
  assert.deepEqual(await asideImages(p), []);
});

test("create for another address sets the kept filesystem aside (mounted or not) and starts empty; --restore-kept reattaches it", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  const image = join(p.imageDir, "alice.img");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X)).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nold mail\n");
  // Production keeps a deleted mailbox mounted (retainOnDelete): the create finds it so.
  const fresh = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_Y);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.match(
    fresh.stderr,
    new RegExp(
      `the kept mail of ${ALICE_AT_X} is set aside as .*/set-aside/alice-\\d{8}T\\d{9}Z\\.img \\(not deleted\\)`,
    ),
  );
  assert.equal(await readFile(join(target, "INBOX"), "utf8"), "", "none of the old mail");
  assert.equal(await readFile(join(p.imageDir, "alice.address"), "utf8"), `${ALICE_AT_Y}\n`);
  const aside = await asideImages(p);
  assert.equal(aside.length, 2, aside.join(" "));
  assert.match(aside[0]!, /^alice-\d{8}T\d{9}Z\.img$/);
  assert.equal(aside[1], `${aside[0]}.address`);
  assert.equal(await readFile(join(p.imageDir, "set-aside", aside[1]!), "utf8"), `${ALICE_AT_X}\n`);
  assert.equal(
    (await sh("blkid", ["-p", "-o", "value", "-s", "TYPE", join(p.imageDir, "set-aside", aside[0]!)])).stdout.trim(),
    "ext4",
    "the old filesystem, kept whole",
  );
  assert.equal((await readFile(p.fstab, "utf8")).split("\n").length, 2, "one fstab line, for the new image");

  // An operator gives the old one back: put it in place, then create with --restore-kept.
  assert.equal((await mailboxFs("unmount", ...p.common())).code, 0);
  await rm(image);
  await sh("mv", [join(p.imageDir, "set-aside", aside[0]!), image]);
  await sh("mv", [join(p.imageDir, "set-aside", aside[1]!), join(p.imageDir, "alice.address")]);
  const restored = await mailboxFs(
    "create",
    ...p.common(),
    "--size",
    String(32 * MiB),
    "--address",
    ALICE_AT_Y,
    "--restore-kept",
  );
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(
    restored.stderr,
    new RegExp(`made for ${ALICE_AT_X}, is reattached for ${ALICE_AT_Y} \\(--restore-kept\\)`),
  );
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /old mail/);
  assert.equal(await readFile(join(p.imageDir, "alice.address"), "utf8"), `${ALICE_AT_Y}\n`);
});

test("grow (a live mailbox's update) under a new address keeps the mail and records the new address", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X)).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nlive mail\n");
  const renamed = await mailboxFs("grow", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_Y);
  assert.equal(renamed.code, 0, renamed.stderr);
  assert.match(renamed.stderr, new RegExp(`made for ${ALICE_AT_X}, now serves ${ALICE_AT_Y}`));
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /live mail/);
  assert.equal(await readFile(join(p.imageDir, "alice.address"), "utf8"), `${ALICE_AT_Y}\n`);
  assert.deepEqual(await asideImages(p), []);
});

test("decide records the owner's answer for the next create: restore under a new address, or start empty under the same one", {
  skip,
}, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X)).code, 0);
  await writeFile(join(target, "INBOX"), "From a@b Mon Nov 23 00:00:00 2026\n\nold mail\n");

  assert.equal((await mailboxFs("decide", ...p.common(), "--address", ALICE_AT_Y, "--choice", "restore")).code, 0);
  assert.equal((await kept(p)).address, ALICE_AT_Y, "the kept filesystem is now the new address's");
  const restored = await mailboxFs("grow", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_Y);
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(await readFile(join(target, "INBOX"), "utf8"), /old mail/);

  const decided = await mailboxFs("decide", ...p.common(), "--address", ALICE_AT_Y, "--choice", "set-aside");
  assert.equal(decided.code, 0, decided.stderr);
  assert.equal((await kept(p)).decision, "set-aside");
  const empty = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_Y);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stderr, /is set aside as/);
  assert.equal(await readFile(join(target, "INBOX"), "utf8"), "", "the same address, started empty as asked");
  assert.equal((await kept(p)).decision, undefined, "the decision is carried out once");
  assert.equal((await asideImages(p)).length, 2);
});

test("a busy mount is not set aside: the create fails, saying so, and changes nothing", { skip }, async (t) => {
  const p = await place(t);
  const target = join(p.mailRoot, "alice");
  assert.equal((await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_X)).code, 0);
  const holder = spawn("sleep", ["60"], { cwd: target, stdio: "ignore" });
  t.after(() => holder.kill());
  const busy = await mailboxFs("create", ...p.common(), "--size", String(32 * MiB), "--address", ALICE_AT_Y);
  assert.equal(busy.code, 1);
  assert.match(
    busy.stderr,
    new RegExp(
      `is in use by processes .*${holder.pid}.*to be set aside for the new address: stop what uses it, then run again`,
    ),
  );
  assert.equal(await readFile(join(p.imageDir, "alice.address"), "utf8"), `${ALICE_AT_X}\n`);
  assert.deepEqual(await asideImages(p), []);
});

test("a bad --address or --choice is refused before anything is done", async () => {
  const base = ["--owner", "alice", "--size", "67108864", "--mail-root", "/m", "--vg", "semail", "--dry-run"];
  for (const bad of [
    "Alice@example.org",
    "alice@example.org\nx",
    "alice",
    "a/b@example.org",
    "alice@@example.org",
    "alice@ex..org",
    '"a"@example.org',
    `${"a".repeat(65)}@example.org`,
  ]) {
    const result = await mailboxFs("create", ...base, "--address", bad);
    assert.equal(result.code, 1, bad);
    assert.match(result.stderr, /is not a mailbox address: use lower-case local@domain/, bad);
    assert.equal(result.stdout, "");
  }
  const noAddress = await mailboxFs("decide", ...base, "--choice", "restore");
  assert.match(noAddress.stderr, /--address "" is not a mailbox address/);
  const choice = await mailboxFs("decide", ...base, "--address", ALICE_AT_X, "--choice", "keep");
  assert.match(choice.stderr, /--choice "keep" is not valid: use restore or set-aside/);
});

test("lvm variant (dry run): the address is recorded in the state dir", async (t) => {
  const dir = await tempDir(t, "semail-lvm-");
  const result = await mailboxFs(
    "create",
    "--owner",
    "alice",
    "--size",
    String(64 * MiB),
    "--mail-root",
    join(dir, "mail"),
    "--vg",
    "semail",
    "--fstab",
    join(dir, "fstab"),
    "--state-dir",
    join(dir, "state"),
    "--address",
    ALICE_AT_X,
    "--dry-run",
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim().split("\n").at(-1), `+ write ${dir}/state/alice.address: ${ALICE_AT_X}`);
  assert.ok(!existsSync(join(dir, "state")), "a dry run changes nothing");
});
