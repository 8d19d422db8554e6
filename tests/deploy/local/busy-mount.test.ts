// Local mode's stop with a mailbox still in use (a shell whose working directory is inside
// it): the holder is named, given a bounded time, then the mount goes lazily and its loop
// device detaches itself once the holder is gone; a holder that leaves in time gets a plain
// unmount. Needs root: image files on loop mounts.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import {
  createLocalApplier,
  createLocalZone,
  releaseLocalMounts,
  type LocalApplierOptions,
} from "../../../deploy/local/applier.ts";
import { shareMailRoot } from "../../../deploy/local/containers.ts";
import { until } from "../../../testkit/until.ts";
import { needsLoopDevices } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const skip = needsLoopDevices;
const sizes = { managedDomain: "semail.test", defaultSize: 16 * 1024 ** 2, minSize: 16 * 1024 ** 2 };

/** Loop devices whose backing file lies under `dir`, as `losetup -a` lists them. */
async function loopsUnder(dir: string): Promise<string[]> {
  return (await run("losetup", ["-a"])).stdout.split("\n").filter((line) => line.includes(dir));
}

const mountedAt = async (target: string) =>
  (await run("findmnt", ["-n", "--mountpoint", target]).catch(() => ({ stdout: "" }))).stdout.trim() !== "";

/**
 * alice's mailbox on a loop-mounted image in a fresh directory, with the mail root shared
 * first as local mode does for the containers when asked; everything undone after the test.
 */
async function aliceMounted(t: TestContext, { shared = false } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "semail-busy-"));
  const settings: LocalApplierOptions = {
    mailRoot: join(dir, "mail"),
    imageDir: join(dir, "images"),
    fstab: join(dir, "fstab"),
    zone: createLocalZone({ domain: "semail.test", ipv4: "127.0.0.1", serialFile: join(dir, "serial") }),
    publishZone: async () => undefined,
    notifyDaemons: async () => undefined,
  };
  const holders: ChildProcess[] = [];
  t.after(async () => {
    for (const child of holders) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await until(() => holders.every((c) => c.exitCode !== null || c.signalCode !== null), "the holders to exit");
    await run("umount", ["-l", join(settings.mailRoot, "alice")]).catch(() => undefined);
    await unshare?.().catch(() => undefined);
    for (const line of await loopsUnder(dir)) await run("losetup", ["-d", line.split(":")[0]!]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const unshare = shared ? await shareMailRoot(settings.mailRoot) : undefined;
  await createLocalApplier(settings).apply({
    list: parseUsersList("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n", sizes),
    logger: silentLogger(),
    signal: new AbortController().signal,
  });
  const root = join(settings.mailRoot, "alice");
  assert.ok(await mountedAt(root));
  /** A process whose working directory is inside the mailbox, as a user's shell would be (or `command` there). */
  const holdIt = async (command = ["sleep", "300"]) => {
    const child = spawn(command[0]!, command.slice(1), { cwd: root, stdio: "ignore" });
    holders.push(child);
    await new Promise((ok, fail) => child.once("spawn", ok).once("error", fail));
    return child;
  };
  return { dir, settings, root, image: join(settings.imageDir!, "alice.img"), holdIt, unshare };
}

test("a mailbox still in use at stop: the holder is named, the mount goes lazily, its loop device detaches once the holder exits", {
  skip,
}, async (t) => {
  const { dir, settings, root, image, holdIt } = await aliceMounted(t);
  const shell = await holdIt();
  const said: string[] = [];

  const stays = await releaseLocalMounts(settings, { say: (line) => said.push(line), waitMs: 1_000 });
  const text = said.join("\n");
  assert.match(
    text,
    new RegExp(`alice's mailbox \\(${root}\\) is in use: pid ${shell.pid} \\(sleep 300\\): its working directory`),
  );
  assert.match(text, /waiting up to 1 s for it to be let go/);
  assert.match(text, /alice's mailbox unmounted lazily/);
  assert.equal(await mountedAt(root), false, "gone from the mount tree");
  assert.doesNotMatch(await readFile(settings.fstab, "utf8"), /\/alice /, "its fstab line is dropped");

  // The device that stays is said, with why and what happens next.
  assert.equal(stays.length, 1);
  assert.match(stays[0]!.device, /^\/dev\/loop\d+$/);
  assert.equal(stays[0]!.image, image);
  assert.equal(stays[0]!.autoclear, true, "set to detach itself");
  assert.deepEqual(
    stays[0]!.holders.map((h) => h.pid),
    [shell.pid],
  );
  assert.match(
    text,
    new RegExp(
      `${stays[0]!.device} \\(${image}\\) stays attached, in use by pid ${shell.pid} \\(sleep 300\\): its working directory; it detaches itself when they let go`,
    ),
  );
  assert.equal((await loopsUnder(dir)).length, 1, "attached while the holder runs");

  shell.kill("SIGTERM");
  await until(
    async () => (await loopsUnder(dir)).length === 0,
    "the loop device to detach itself once the holder exited",
  );
});

test("a holder that leaves while the stop waits: a plain unmount, and no loop device stays", { skip }, async (t) => {
  const { dir, settings, root, holdIt } = await aliceMounted(t);
  const shell = await holdIt();
  const said: string[] = [];
  const released = releaseLocalMounts(settings, { say: (line) => said.push(line), waitMs: 60_000 });
  await until(
    () => said.some((line) => line.includes("waiting up to 60 s")),
    () => `the wait to be said: ${said.join("\n")}`,
  );
  shell.kill("SIGTERM");

  assert.deepEqual(await released, []);
  assert.match(said.join("\n"), /alice's mailbox was let go and is unmounted/);
  assert.doesNotMatch(said.join("\n"), /lazily|stays attached/);
  assert.equal(await mountedAt(root), false);
  assert.deepEqual(await loopsUnder(dir), []);
});

test("a second Ctrl-C ends the wait at once: the busy mailbox is unmounted lazily", { skip }, async (t) => {
  const { settings, holdIt } = await aliceMounted(t);
  const shell = await holdIt();
  const said: string[] = [];
  const hurry = new AbortController();
  const released = releaseLocalMounts(settings, {
    say: (line) => said.push(line),
    waitMs: 10 * 60_000,
    hurry: hurry.signal,
  });
  await until(
    () => said.some((line) => line.includes("Ctrl-C again")),
    () => `the wait to be said: ${said.join("\n")}`,
  );
  hurry.abort();

  const stays = await released;
  assert.match(said.join("\n"), /alice's mailbox unmounted lazily/);
  assert.deepEqual(
    stays.map((s) => s.holders.map((h) => h.pid)),
    [[shell.pid]],
  );
});

test("with the mail root shared for the containers (a bind mount onto itself): the same, and its undo leaves no device once the holder exits", {
  skip,
}, async (t) => {
  const { dir, settings, root, holdIt, unshare } = await aliceMounted(t, { shared: true });
  const shell = await holdIt();
  const stays = await releaseLocalMounts(settings, { waitMs: 500 });
  assert.deepEqual(
    stays.map((s) => s.holders.map((h) => h.pid)),
    [[shell.pid]],
  );
  assert.equal(await mountedAt(root), false);
  await unshare!();
  shell.kill("SIGTERM");
  await until(
    async () => (await loopsUnder(dir)).length === 0,
    "the loop device to detach itself once the holder exited",
  );
});

test("a mount namespace that keeps a copy of the mount (a container left running): the unmount here succeeds, the device stays, and that process is named", {
  skip,
}, async (t) => {
  const { dir, settings, holdIt } = await aliceMounted(t);
  // Its own mount namespace, made while the mailbox is mounted: a copy of the mount it holds
  // without any file open (its working directory is where unshare started, then / inside).
  const other = await holdIt(["unshare", "--mount", "--propagation", "private", "sh", "-c", "cd / && exec sleep 300"]);
  await until(
    async () => (await readFile(`/proc/${other.pid}/cmdline`, "utf8").catch(() => "")).startsWith("sleep"),
    "the namespace's sleep to run",
  );
  const said: string[] = [];

  const stays = await releaseLocalMounts(settings, { say: (line) => said.push(line), waitMs: 500 });
  assert.doesNotMatch(said.join("\n"), /is in use|lazily/, "nothing here was busy");
  assert.equal(stays.length, 1, said.join("\n"));
  assert.equal(stays[0]!.autoclear, true);
  assert.match(
    said.join("\n"),
    new RegExp(
      `stays attached, in use by pid ${other.pid} \\(sleep 300\\): a mount of it at /\\S+/mail/alice in its own mount namespace; it detaches itself when they let go`,
    ),
  );

  other.kill("SIGTERM");
  await until(
    async () => (await loopsUnder(dir)).length === 0,
    "the loop device to detach itself once that namespace ended",
  );
});
