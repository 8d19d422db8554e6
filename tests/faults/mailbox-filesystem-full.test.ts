// Fault row: the user's own filesystem (a tiny loop-mounted ext4, as mailbox-fs.sh makes it)
// fills during an append. `semail inbound` runs as a process; alice and bob each have an image.
// To fill alice's between the daemon's room check and its write, the test holds her INBOX's
// dotlock (as mutt would) until the daemon waits for it, fills the disk behind its back and lets
// go: the append then runs out of space halfway, in INBOX or in the folder copy after it. Each
// such message gets 452 4.2.2 and her mbox files stay byte for byte as they were; once the disk
// is full the check at RCPT says 452 4.2.2 too; bob takes every message meanwhile; a filler
// deleted, alice's mail goes in again (recovery).
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { provision, spawnInbound, usersYaml } from "../mailservers/inbound/fixture.ts";
import { mountedExt4 } from "../mailservers/inbound/store/fixture.ts";
import { folderName } from "../../mailservers/inbound/store/index.ts";
import { needsLoopDevices } from "../../testkit/needs-root.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { Ledger, faultTag } from "./ledger.ts";
import { recordOutcome } from "./outcome.ts";
import { fillFilesystem } from "./fill-filesystem.ts";
import { mailboxFiles } from "./mailbox-files.ts";
import { SENDER, sendTagged, tagsIn } from "./tagged-mail.ts";

const MiB = 1024 ** 2;
const USERS = ["alice", "bob"].map((owner) => ({ owner, address: `${owner}@semail.test` }));
/** Big enough that an append crosses the space left: a quarter of a MiB, in a 16 MiB image. */
const MESSAGE_BYTES = 256 * 1024;
const FILLER = "filler";

/** Stops the daemon and waits for it to exit (SIGKILL after a bounded wait). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

test("the user's filesystem fills during an append: 452 4.2.2, the mbox intact, the other mailbox unaffected; space freed, delivery resumes", {
  skip: needsLoopDevices,
}, async (t) => {
  // Cleanups run in order: the daemon lets go of the images first, then they are unmounted, then removed.
  let daemon: ChildProcess | undefined;
  t.after(() => daemon && stop(daemon));
  const dir = await mkdtemp(path.join(tmpdir(), "semail-fault-full-"));
  const mailRoot = path.join(dir, "mail");
  for (const { owner } of USERS) {
    const mounted = await mountedExt4(t, 16 * MiB, path.join(mailRoot, owner));
    if (typeof mounted !== "string") {
      await rm(dir, { recursive: true, force: true });
      return t.skip(mounted.skip);
    }
  }
  t.after(() => rm(dir, { recursive: true, force: true }));
  await provision(mailRoot, USERS);
  for (const { owner } of USERS) await mkdir(path.join(mailRoot, owner, "mail"), { mode: 0o700 });
  const usersFile = path.join(dir, "users.yaml");
  await writeFile(usersFile, usersYaml(USERS));
  const config = path.join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      hostname: "mx.semail.test",
      managedDomain: "semail.test",
      users: usersFile,
      log: { level: "info" },
      inbound: { listen: ["127.0.0.1:0"], mailRoot, maxMessageSize: "2MiB", minFreeSpace: "1MiB" },
    }),
  );
  const spawned = await spawnInbound(t, config);
  daemon = spawned.child;
  const alice = path.join(mailRoot, "alice");
  const ledger = new Ledger();
  let n = 0;
  const send = (owner: string) => sendTagged(spawned.port, ledger, ++n, `${owner}@semail.test`, MESSAGE_BYTES);
  const codes = (reply: { code: number; text: string }) => `${reply.code} ${reply.text.slice(0, 5)}`;
  const bobSends = async (count: number) => {
    for (let i = 0; i < count; i++) assert.equal(codes(await send("bob")), "250 2.0.0", "bob's mailbox is unaffected");
  };

  /** One message whose append runs out of space with `leave` bytes free when it starts writing. */
  const fillDuringAppend = async (leave: number) => {
    const before = await mailboxFiles(alice);
    const lock = path.join(alice, "INBOX.lock");
    await writeFile(lock, `${process.pid}\n`, { flag: "wx" });
    const reply = send("alice");
    // Its own file to link to the lock name is there: the daemon checked the room and now waits.
    await until(
      async () => (await readdir(alice)).some((name) => name.startsWith(".INBOX.lock.")),
      () => `the daemon waiting for alice's INBOX lock: ${spawned.output().slice(-2000)}`,
      30_000,
    );
    const free = await fillFilesystem(path.join(alice, FILLER), leave);
    assert.ok(free < MESSAGE_BYTES * 2, `only ${free} bytes free: less than the message's two copies`);
    await bobSends(2);
    await unlink(lock);
    assert.equal(codes(await reply), "452 4.2.2", "the append that ran out of space");
    assert.deepEqual(await mailboxFiles(alice), before, "alice's mbox files are as they were");
  };

  // Before the fault, both mailboxes take mail.
  for (let i = 0; i < 3; i++) assert.equal((await send("alice")).code, 250);
  await bobSends(3);

  // Out of space halfway through the INBOX copy; freed, one goes in; then halfway through the folder copy.
  // (ext4 refuses writes while statfs still shows some 100 KiB free here: the fractions leave room for that.)
  await fillDuringAppend(0.7 * MESSAGE_BYTES);
  await unlink(path.join(alice, FILLER));
  assert.equal((await send("alice")).code, 250);
  await fillDuringAppend(1.6 * MESSAGE_BYTES);

  // Full: refused at RCPT by the room check, the same 452 4.2.2; bob still takes his.
  assert.equal(await fillFilesystem(path.join(alice, FILLER), 0), 0);
  const full = await mailboxFiles(alice);
  for (let i = 0; i < 4; i++) assert.equal(codes(await send("alice")), "452 4.2.2", "alice's disk is full");
  await bobSends(4);
  assert.deepEqual(await mailboxFiles(alice), full, "nothing written to a full disk");

  // Space freed: the next message to alice is stored.
  await unlink(path.join(alice, FILLER));
  const freed = Date.now();
  const recoveryMs = await untilValue(
    async () => {
      if ((await send("alice")).code !== 250) return undefined;
      return (await tagsIn([path.join(alice, "INBOX")])).has(faultTag(n)) ? Date.now() - freed : undefined;
    },
    "a message to alice 250'd and delivered after the space is freed",
    30_000,
    100,
  );

  // The store saw the disk fill mid-append, in INBOX, then in the folder: a short write, or ENOSPC
  // (logged once per spell of failures: the message stored between them ended the first).
  const failures = spawned
    .output()
    .split("\n")
    .filter((line) => line.includes('"level":50'))
    .map((line) => JSON.parse(line) as { root?: string; file?: string; err?: { code?: string; message?: string } });
  for (const { file, err } of failures) t.diagnostic(`${file}: ${err?.code} ${err?.message}`);
  assert.deepEqual(
    failures.map((line) => [
      path.relative(alice, line.file ?? ""),
      ["ENOSPC", "ESHORTWRITE"].includes(line.err?.code ?? ""),
    ]),
    [
      ["INBOX", true],
      [path.join("mail", folderName("alice@semail.test", SENDER)), true],
    ],
  );

  const arrivals = await tagsIn(USERS.map(({ owner }) => path.join(mailRoot, owner, "INBOX")));
  // The folder copies are whole too, and each the same set as INBOX.
  for (const { owner } of USERS) {
    const [folder] = await readdir(path.join(mailRoot, owner, "mail"));
    assert.deepEqual(
      [...(await tagsIn([path.join(mailRoot, owner, "mail", folder!)]))].sort(),
      [...(await tagsIn([path.join(mailRoot, owner, "INBOX")]))].sort(),
    );
  }
  await recordOutcome({
    fault: "mailbox filesystem full during an append",
    ...ledger.tally(arrivals),
    recoveryMs,
    note: `${ledger.refusalSummary()}; 2 ran out mid-append (INBOX, folder copy), 4 refused at RCPT when full`,
  });
});
