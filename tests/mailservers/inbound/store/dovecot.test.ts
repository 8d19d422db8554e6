// Dovecot reads what the store writes: the layout `mbox:~/mail:INBOX=~/INBOX` lists
// INBOX and the pair folders, every message is there, and the stripped Status/X-UID
// headers do not reach its flags. Dovecot rewriting INBOX (flags, expunge) while the store
// appends: each keeps to the other's dotlock.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, chown, link, mkdir, readdir, rm, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { PROVISIONED_MARKER, folderName, provisionPlainRoot } from "../../../../mailservers/inbound/store/index.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, target } from "./fixture.ts";

const run = promisify(execFile);
const NOBODY = 65534;

/** Why Dovecot cannot run here, or undefined when it can. */
async function whyNoDovecot(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root to hand the mailbox to an unprivileged Dovecot user";
  const doveadm = await run("doveadm", ["-c", "/dev/null", "help"]).then(() => true, (e: NodeJS.ErrnoException) => e.code !== "ENOENT");
  return doveadm ? undefined : "doveadm is not installed";
}

test("doveadm lists and fetches every stored message", async (t) => {
  const skip = await whyNoDovecot();
  if (skip) return t.skip(skip);
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const senders = ["alice@example.org", "alice@example.org", "", "../../etc/passwd@x"];
  for (const [i, sender] of senders.entries()) {
    const text = `Subject: m${i}\nStatus: RO\nX-UID: 77\nX-Keywords: $Junk\n\nFrom the body\nbye\n`;
    await store.deliver(makeEnvelope(sender, ["bob@semail.test"]), [target("bob")], messageStream(text));
  }
  await store.close();

  const { doveadmRun } = await dovecotFor(root, "bob");
  const list = await doveadmRun("mailbox", "list");
  assert.deepEqual(list.stdout.trim().split("\n").sort(), [
    "INBOX",
    folderName("bob@semail.test", ""),
    folderName("bob@semail.test", "../../etc/passwd@x"),
    folderName("bob@semail.test", "alice@example.org"),
  ].sort());
  const fetched = await doveadmRun("fetch", "mailbox hdr.subject flags", "ALL");
  const records = fetched.stdout.split("\f").map((r) => r.trim()).filter(Boolean);
  assert.equal(records.length, 8, fetched.stdout);
  const inbox = records.filter((r) => r.startsWith("mailbox: INBOX\n"));
  assert.deepEqual(inbox.map((r) => /hdr\.subject: (\S+)/.exec(r)?.[1]), ["m0", "m1", "m2", "m3"]);
  for (const record of records) assert.match(record, /flags: \\Recent\s*$/, "no flag comes from the stripped headers");
});

/** Dovecot's mbox layout over `owner`'s mailbox (handed to nobody), locking with dotlocks only; doveadm with it. */
async function dovecotFor(root: string, owner: string) {
  const home = path.join(root, owner);
  const index = path.join(root, "index");
  await mkdir(index);
  await chmod(root, 0o755); // mkdtemp makes it 0700: Dovecot runs as nobody
  await run("chown", ["-R", `${NOBODY}:${NOBODY}`, home]);
  await chown(index, NOBODY, NOBODY);
  const config = path.join(root, "dovecot.conf");
  await writeFile(config, [
    `base_dir = ${path.join(root, "run")}`,
    `state_dir = ${path.join(root, "state")}`,
    `log_path = ${path.join(root, "dovecot.log")}`,
    `mail_location = mbox:${home}/mail:INBOX=${home}/INBOX:INDEX=${index}`,
    `mail_uid = ${NOBODY}`,
    `mail_gid = ${NOBODY}`,
    "mbox_read_locks = dotlock",
    "mbox_write_locks = dotlock",
    "",
  ].join("\n"));
  const env = { ...process.env, HOME: home, USER: "nobody" };
  return { home, doveadmRun: (...args: string[]) => run("doveadm", ["-c", config, ...args], { env }) };
}

test("Dovecot flags and expunges while the store delivers, both under the dotlock linked from the provisioning marker", async (t) => {
  const skip = await whyNoDovecot();
  if (skip) return t.skip(skip);
  const root = await makeMailRoot(t, undefined, []);
  await provisionPlainRoot(root, "bob");
  const { home, doveadmRun } = await dovecotFor(root, "bob");
  const store = makeStore(t, root, { lockTimeoutMs: 20_000 });
  // Deliveries go on until Dovecot has had 10 rounds at the mailbox (at most 600 messages).
  const wanted = 10;
  const most = 600;
  const subject = (i: number) => `m${String(i).padStart(3, "0")}x`;
  const text = (i: number) => `Subject: ${subject(i)}\n\n${`From line ${i} and more\n`.repeat(30 + i)}end ${i}\n`;
  const delivered: number[] = [];
  let next = 0;
  let rounds = 0;
  const deliveries = Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = next++; i < most && rounds < wanted; i = next++) {
      await store.deliver(makeEnvelope(`s${i % 3}@example.org`, ["bob@semail.test"]), [target("bob")], messageStream(text(i), 512));
      delivered.push(i);
      // Gaps between appends, as between SMTP transactions, so Dovecot gets the lock too.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }));
  let finished = false;
  void deliveries.finally(() => (finished = true));
  const expunged = new Set<number>();
  while (!finished) {
    rounds++;
    await doveadmRun("flags", "add", "\\Seen", "mailbox", "INBOX", "ALL");
    const victim = delivered.at(-1);
    if (victim !== undefined && rounds % 2 === 0) {
      await doveadmRun("expunge", "mailbox", "INBOX", "header", "subject", subject(victim));
      expunged.add(victim);
    }
  }
  await deliveries;
  await store.close();
  assert.ok(rounds >= wanted && expunged.size > 0, `Dovecot worked during the deliveries: ${rounds} rounds, ${expunged.size} expunged`);

  const inbox = await readMbox(path.join(home, "INBOX"));
  const seen = new Map<number, number>();
  for (const message of inbox) {
    const i = Number(/^m(\d+)x$/.exec(message.subject ?? "")?.[1] ?? NaN);
    if (Number.isNaN(i)) continue; // Dovecot's folder-data pseudo message
    seen.set(i, (seen.get(i) ?? 0) + 1);
    assert.equal(message.body.replace(/^>(>*From )/gm, "$1"), `${`From line ${i} and more\n`.repeat(30 + i)}end ${i}\n`, `${subject(i)} is whole`);
  }
  for (const i of delivered) assert.equal(seen.get(i) ?? 0, expunged.has(i) ? 0 : 1, `${subject(i)} ${expunged.has(i) ? "expunged" : "once"}`);
  assert.equal(seen.size, delivered.length - expunged.size, "nothing else in INBOX");
  assert.equal((await readdir(home)).filter((name) => name.includes(".lock")).length, 0, "no lock left");
  t.diagnostic(`${rounds} doveadm rounds, ${expunged.size} expunged during ${delivered.length} deliveries`);
});

test("Dovecot waits on a lock linked from the provisioning marker (empty, fresh), and goes on once it is gone", async (t) => {
  const skip = await whyNoDovecot();
  if (skip) return t.skip(skip);
  const root = await makeMailRoot(t, undefined, []);
  await provisionPlainRoot(root, "bob");
  const store = makeStore(t, root);
  await store.deliver(makeEnvelope("alice@example.org", ["bob@semail.test"]), [target("bob")], messageStream("Subject: held\n\nbody\n"));
  await store.close();
  const { home, doveadmRun } = await dovecotFor(root, "bob");
  // What the store does for each append (dotlock.ts): the marker, touched, linked as the lock.
  const marker = path.join(home, PROVISIONED_MARKER);
  const lock = path.join(home, "INBOX.lock");
  await utimes(marker, new Date(), new Date());
  await link(marker, lock);
  let done = false;
  const flagging = doveadmRun("flags", "add", "\\Flagged", "mailbox", "INBOX", "ALL").finally(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(done, false, "Dovecot waits while the lock is there");
  await rm(lock);
  await flagging;
  const fetched = await doveadmRun("fetch", "flags", "mailbox", "INBOX", "ALL");
  assert.match(fetched.stdout, /\\Flagged/);
});
