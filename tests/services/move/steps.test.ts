// The move's steps between two local data dirs, with real rsync and sha256sum: the checks and
// their refusals, the copy (locks, lost+found and the marker left alone), the lists written
// with their mode and owner kept, the wait that gives up and puts the list back, and the check
// that finds a copy that differs. The daemon here is stood in for by its release note.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chown, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { usersListOptions } from "../../../config/settings.ts";
import { loadUsersList } from "../../../config/users-file.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { moveMailbox, MoveError } from "../../../services/move/index.ts";
import { releaseNotePath } from "../../../config/mailbox-release.ts";
import { listFilesOf } from "../../../services/move/list-files.ts";
import { planMove } from "../../../services/move/plan.ts";
import { replacePlacement } from "../../../services/move/placement.ts";
import { statsOf } from "../../../services/move/rsync.ts";
import { differences, verifyCopy } from "../../../services/move/verify.ts";
import { until } from "../../../testkit/until.ts";
import { ADDRESS, OWNER, releaseWhenMoving, twoHosts, usersYaml, type TestHostDirs } from "./fixture.ts";

const logger = silentLogger();
const run = promisify(execFile);

/** Some mail in ada's root on `host`: INBOX, a folder, a nested folder, and a reader's lock. */
async function someMail(host: TestHostDirs): Promise<void> {
  const root = host.root();
  await writeFile(path.join(root, "INBOX"), "From a@b Thu Jan  1 00:00:00 2026\nSubject: one\n\nHello.\n\n");
  await mkdir(path.join(root, "mail", "work"), { recursive: true });
  await writeFile(path.join(root, "mail", "ada@semail.test-from-b@example.org"), "From b@c ...\n\nBody\n\n");
  await writeFile(path.join(root, "mail", "work", "2026"), Buffer.from([0, 1, 2, 255, 10]));
  await writeFile(path.join(root, "INBOX.lock"), "4242\n");
}

/** Where `file`'s list says ada is. */
async function placeIn(host: TestHostDirs, file = host.users) {
  const entry = (await loadUsersList(file, usersListOptions(host.settings))).byOwner(OWNER)!;
  return { host: entry.host, moving: entry.moving };
}

describe("semail mailbox move: the steps", () => {
  it("refuses what it cannot move, naming the setting or flag", async (t) => {
    const { main } = await twoHosts(t);
    const list = await loadUsersList(main.users, usersListOptions(main.settings));
    const refusal = (id: string, to: string, settings = main.settings, l = list) => {
      try {
        planMove(settings, l, id, to);
      } catch (error) {
        assert.ok(error instanceof MoveError);
        return error.message;
      }
      assert.fail(`moving ${id} to ${to} was not refused`);
    };
    assert.match(refusal("nobody", "b"), /no mailbox "nobody" in the users list .* \(setting users\)/);
    assert.match(refusal("ada", "main"), /--to main is this host \(setting hostName\)/);
    assert.match(refusal("ada", "c"), /--to "c" is not a host of the setting hosts \(known: b\)/);
    const moving = (await import("../../../config/users-list.ts")).parseUsersList(
      usersYaml({ moving: "b" }),
      usersListOptions(main.settings),
    );
    assert.match(refusal("ada", "b", main.settings, moving), /already moving to b: .*drop "moving: b"/);
    const elsewhere = (await import("../../../config/users-list.ts")).parseUsersList(
      usersYaml({ host: "b" }),
      usersListOptions(main.settings),
    );
    assert.match(
      refusal(ADDRESS, "b", main.settings, elsewhere),
      /is on host b, not on this one \(setting hostName: main\)/,
    );
    // By address as well as by owner.
    assert.equal(planMove(main.settings, list, ADDRESS, "b").entry.owner, OWNER);
  });

  it("moves the mailbox: every file copied and compared, the lists switched with mode and owner kept", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    await mkdir(path.join(b.root(), "lost+found"));
    await chown(b.users, 1234, 1235);
    const before = await stat(b.users);
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const result = await moveMailbox(
      main.settings,
      { id: OWNER, to: "b", waitMs: 10_000, removeSource: false },
      { logger },
    );
    assert.equal(result.to, "b");
    assert.equal(result.files, 3, "INBOX and two folders: the lock and the marker stay out");
    for (const host of [main, b]) assert.deepEqual(await placeIn(host), { host: "b", moving: undefined });
    const after = await stat(b.users);
    assert.deepEqual(
      [after.mode, after.uid, after.gid],
      [before.mode, before.uid, before.gid],
      "b's list keeps its mode and owner",
    );
    for (const file of ["INBOX", "mail/ada@semail.test-from-b@example.org", "mail/work/2026"])
      assert.deepEqual(await readFile(path.join(b.root(), file)), await readFile(path.join(main.root(), file)), file);
    const there = await readdir(b.root());
    assert.ok(!there.includes("INBOX.lock"), "a reader's lock is not copied");
    assert.ok(there.includes("lost+found") && there.includes(".semail-mailbox"), "the target's own files stay");
    assert.ok((await readdir(main.root())).includes("INBOX"), "the source is kept without --remove-source");
    // bob, on the same list, is untouched.
    assert.equal((await loadUsersList(main.users, usersListOptions(main.settings))).byOwner("bob")!.host, "main");
  });

  it("with --remove-source empties the root here, the root itself kept", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const result = await moveMailbox(
      main.settings,
      { id: ADDRESS, to: "b", waitMs: 10_000, removeSource: true },
      { logger },
    );
    assert.equal(result.sourceRemoved, true);
    assert.deepEqual(await readdir(main.root()), []);
    assert.equal((await readFile(path.join(b.root(), "INBOX"), "utf8")).split("\n")[1], "Subject: one");
  });

  it("refuses a target that has mail already: nothing copied, the lists untouched", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    await writeFile(path.join(b.root(), "INBOX"), "From x@y ...\n\nolder mail\n\n");
    const listBefore = await readFile(main.users, "utf8");
    await assert.rejects(
      moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 1000, removeSource: false }, { logger }),
      (error: Error) =>
        error instanceof MoveError &&
        error.message ===
          `host b already has mail for ada at ${b.root()} (INBOX): a move never merges; remove it or pick another host`,
    );
    assert.equal(await readFile(main.users, "utf8"), listBefore);
    assert.deepEqual((await readdir(path.join(b.root(), "mail"))).length, 0);
  });

  it("refuses a target root that is the source's own under another name, and writes a shared list once", async (t) => {
    const { main } = await twoHosts(t);
    await someMail(main);
    const alias = path.join(path.dirname(main.users), "alias");
    await symlink(main.mailRoot, alias);
    const settings = { ...main.settings, hosts: { b: { ...main.settings.hosts.b!, mailRoot: alias } } };
    await assert.rejects(
      moveMailbox(settings, { id: OWNER, to: "b", waitMs: 1000, removeSource: false }, { logger }),
      /alias\/ada \(host b's mailRoot in the setting hosts\) is this host's own mailbox root .*main\/mail\/ada \(setting inbound\.mailRoot\): give host b its own/,
    );
    assert.ok((await readFile(path.join(main.root(), "INBOX"), "utf8")).includes("Hello."), "nothing removed");
    const place = { host: "b", sshCommand: ["ssh"] };
    assert.equal(listFilesOf(main.users, place, `${path.dirname(main.users)}/./users.yaml`).length, 1);
    assert.equal(listFilesOf(main.users, place, undefined).length, 1);
    assert.equal(listFilesOf(main.users, place, "/elsewhere/users.yaml").length, 2);
  });

  it("puts the lists back and empties the target's copy when the daemon never lets go", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    const lists = [await readFile(main.users, "utf8"), await readFile(b.users, "utf8")];
    await assert.rejects(
      moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 300, removeSource: false }, { logger }),
      (error: Error) =>
        error instanceof MoveError &&
        /the inbound daemon here did not let go of ada within 300 ms \(no .*\.semail-moves\/ada\.released\).*--wait\)\. The mailbox stays on host main \(the lists say so again\)$/.test(
          error.message,
        ),
    );
    assert.deepEqual([await readFile(main.users, "utf8"), await readFile(b.users, "utf8")], lists);
    assert.deepEqual((await readdir(b.root())).sort(), [".semail-mailbox", "INBOX", "mail"]);
    assert.equal((await stat(path.join(b.root(), "INBOX"))).size, 0);
    assert.deepEqual(await readdir(path.join(b.root(), "mail")), []);
    // The copy was emptied, so the move can run again, and does.
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    await moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 10_000, removeSource: false }, { logger });
    assert.deepEqual(await placeIn(b), { host: "b", moving: undefined });
  });

  it("puts everything back when the target's list cannot be written at the handover, and says what is left", async (t) => {
    if (process.getuid?.() !== 0) return t.skip("needs root for chattr +i (a list no write can replace)");
    const { main, b } = await twoHosts(t);
    await someMail(main);
    // The daemon here lets go once both lists say moving; then b's list becomes immutable.
    const releasing = (async () => {
      await until(async () => (await placeIn(b)).moving === "b", "b's list to say moving");
      await run("chattr", ["+i", b.users]);
      const note = releaseNotePath(main.mailRoot, OWNER);
      await mkdir(path.dirname(note), { recursive: true });
      await writeFile(note, JSON.stringify({ owner: OWNER, host: "main", to: "b", at: new Date().toISOString() }));
      await rm(path.join(main.root(), "INBOX.lock")); // the reader lets go: the move holds the locks next
    })();
    let failure: Error | undefined;
    try {
      await moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 10_000, removeSource: false }, { logger }).catch(
        (error: Error) => (failure = error),
      );
      await releasing;
    } finally {
      await run("chattr", ["-i", b.users]);
    }
    assert.ok(failure instanceof MoveError);
    assert.match(
      failure.message,
      /The mailbox stays on host main \(the lists say so again\); but .*b\/users\.yaml still says moving \(.*\): drop "moving" from ada there$/,
    );
    assert.deepEqual(await placeIn(main), { host: "main", moving: undefined }, "main stores ada's mail again");
    assert.deepEqual(await placeIn(b), { host: "main", moving: "b" }, "b answers 451 until its list is fixed");
    assert.equal((await stat(path.join(b.root(), "INBOX"))).size, 0, "b's copy emptied");
  });

  it("stops when asked (the command's Ctrl-C) before the handover, and puts the lists back", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    const lists = [await readFile(main.users, "utf8"), await readFile(b.users, "utf8")];
    const stop = new AbortController();
    const moving = moveMailbox(
      main.settings,
      { id: OWNER, to: "b", waitMs: 60_000, removeSource: false },
      { logger, signal: stop.signal },
    );
    await until(async () => (await placeIn(main)).moving === "b", "the switch");
    stop.abort();
    await assert.rejects(
      moving,
      /^MoveError: stopped by a signal before the handover\. The mailbox stays on host main/,
    );
    assert.deepEqual([await readFile(main.users, "utf8"), await readFile(b.users, "utf8")], lists);
  });

  it("finds a copy that differs, file by file", async (t) => {
    const { main, b } = await twoHosts(t);
    await someMail(main);
    await someMail(b);
    const plan = planMove(main.settings, await loadUsersList(main.users, usersListOptions(main.settings)), OWNER, "b");
    assert.equal(await verifyCopy(plan), 3, "INBOX and the two folders; the lock and the marker are not compared");
    // One byte changed, same size: what rsync's quick check could miss.
    const inbox = path.join(b.root(), "INBOX");
    const text = await readFile(inbox, "utf8");
    await writeFile(inbox, text.replace("Hello", "Jello"));
    await writeFile(path.join(b.root(), "mail", "extra"), "x");
    await assert.rejects(verifyCopy(plan), /2 differences: INBOX differs; mail\/extra is only on the target/);
    assert.deepEqual(differences(new Map([["a", "1"]]), new Map()), ["a is missing on the target"]);
  });

  it("writes one entry's place and leaves the rest; refuses a list changed under it", async (t) => {
    const { main } = await twoHosts(t);
    const options = usersListOptions(main.settings);
    const text = replacePlacement(usersYaml(), options, "x", OWNER, { host: "main" }, { host: "main", moving: "b" });
    assert.equal(text, usersYaml({ moving: "b" }));
    assert.throws(
      () => replacePlacement(usersYaml(), options, "x", OWNER, { host: "main", moving: "b" }, { host: "b" }),
      /says ada is on host main, not host main, moving to b: someone changed it during the move/,
    );
    assert.deepEqual(
      statsOf(
        "Number of files: 7 (reg: 4, dir: 3)\nTotal file size: 1,234 bytes\nTotal transferred file size: 12 bytes\n",
      ),
      { files: 4, bytes: 1234, changedBytes: 12 },
    );
  });
});
