// The mbox files here are held under their dotlocks (the backups' lock taker, which the store
// and Dovecot honour) from before the final copy until the handover is written: a reader's
// write waits for the handover and so cannot land between the copy and the switch and be
// lost. A reader that keeps a lock past inbound.lockTimeout stops the move, which puts
// everything back. The readers here take the same link(2) dotlocks Dovecot and mutt take.
import assert from "node:assert/strict";
import { appendFile, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { usersListOptions } from "../../../config/settings.ts";
import { loadUsersList } from "../../../config/users-file.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { isLockFile } from "../../../services/backup/mailbox-files.ts";
import { withMailboxLocks } from "../../../services/backup/mailbox-locks.ts";
import { moveMailbox, MoveError } from "../../../services/move/index.ts";
import { until } from "../../../testkit/until.ts";
import { OWNER, releaseWhenMoving, twoHosts, type TestHostDirs } from "./fixture.ts";

const logger = silentLogger();
const INBOX_TEXT = "From a@b Thu Jan  1 00:00:00 2026\nSubject: one\n\nHello.\n\n";

/** ada's mail on `host`: INBOX and a nested folder. */
async function someMail(host: TestHostDirs): Promise<string> {
  await writeFile(path.join(host.root(), "INBOX"), INBOX_TEXT);
  const folder = path.join(host.root(), "mail", "work");
  await writeFile(folder, "From b@c Thu Jan  1 00:00:00 2026\n\nBody\n\n");
  return folder;
}

/** Where each list says ada is: "main", "main, moving to b", "b". */
async function placements(...hosts: TestHostDirs[]): Promise<string[]> {
  return await Promise.all(
    hosts.map(async (host) => {
      const entry = (await loadUsersList(host.users, usersListOptions(host.settings))).byOwner(OWNER)!;
      return entry.moving === undefined ? entry.host : `${entry.host}, moving to ${entry.moving}`;
    }),
  );
}

/** A reader holding `file`'s dotlock until let go. */
function reader(file: string) {
  let letGo!: () => void;
  const holding = new Promise<void>((resolve) => (letGo = resolve));
  const done = withMailboxLocks([file], 5000, () => holding);
  return { letGo, done };
}

/** The lock files left in a root. */
async function locksIn(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).filter((name) => isLockFile(path.basename(name)));
}

describe("semail mailbox move: the hold on the mbox files here", () => {
  it("holds every mbox file from before the final copy until the handover: a reader's write waits", async (t) => {
    const { main, b } = await twoHosts(t);
    const folder = await someMail(main);
    // A reader has mail/work locked: the move takes INBOX (the first in path order) and waits for it.
    const first = reader(folder);
    t.after(() => first.letGo());
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    const moving = moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 10_000, removeSource: false }, { logger });
    const inboxLock = path.join(main.root(), "INBOX.lock");
    await until(
      () =>
        stat(inboxLock).then(
          () => true,
          () => false,
        ),
      "the move to take INBOX's dotlock",
      20_000,
    );
    assert.deepEqual(await placements(main, b), ["main, moving to b", "main, moving to b"], "held before the handover");
    // Another reader wants INBOX to write (an IMAP flag change): it gets it only after the handover.
    let seen: string[] = [];
    const second = withMailboxLocks([path.join(main.root(), "INBOX")], 30_000, async () => {
      seen = await placements(main, b);
      await appendFile(path.join(main.root(), "INBOX"), "X-Late: a write after the hold\n");
    });
    first.letGo();
    await first.done;
    const result = await moving;
    await second;
    assert.equal(result.files, 2);
    assert.deepEqual(seen, ["b", "b"], "the write waited until both lists said b");
    assert.equal(await readFile(path.join(b.root(), "INBOX"), "utf8"), INBOX_TEXT, "b has the mail as it was held");
    assert.deepEqual(await locksIn(main.root()), [], "the move let go of every lock it took");
  });

  it("a reader keeping its lock past inbound.lockTimeout stops the move, which puts everything back", async (t) => {
    const { main, b } = await twoHosts(t, { inbound: { lockTimeout: "300ms" } });
    const folder = await someMail(main);
    const lists = [await readFile(main.users, "utf8"), await readFile(b.users, "utf8")];
    const stuck = reader(folder);
    t.after(() => stuck.letGo());
    const releaser = releaseWhenMoving(main, OWNER);
    t.after(() => releaser.stop());
    await assert.rejects(
      moveMailbox(main.settings, { id: OWNER, to: "b", waitMs: 10_000, removeSource: false }, { logger }),
      (error: Error) =>
        error instanceof MoveError &&
        /^cannot hold ada's mail here for the final copy within 300 ms \(setting inbound\.lockTimeout\): \S+\/mail\/work\.lock is held by someone else .*The mailbox stays on host main \(the lists say so again\)$/.test(
          error.message,
        ),
    );
    assert.deepEqual([await readFile(main.users, "utf8"), await readFile(b.users, "utf8")], lists);
    assert.equal((await stat(path.join(b.root(), "INBOX"))).size, 0, "b's copy emptied");
    assert.deepEqual(await locksIn(main.root()), ["mail/work.lock"], "only the reader's lock is left");
    stuck.letGo();
    await stuck.done;
  });
});
