// Dovecot and the store at the same mailbox: Dovecot flags and expunges (rewriting INBOX)
// while the store delivers, both under the dotlock, which the store links from the
// provisioning marker and whose file it keeps open between batches. Every message stays
// whole and once, or is gone when Dovecot expunged it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, chown, mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { provisionPlainRoot } from "../../../../../config/mailbox-layout.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, target } from "../fixture.ts";

const run = promisify(execFile);
const NOBODY = 65534;

async function whyNoDovecot(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root to hand the mailbox to an unprivileged Dovecot user";
  const doveadm = await run("doveadm", ["-c", "/dev/null", "help"]).then(
    () => true,
    (e: NodeJS.ErrnoException) => e.code !== "ENOENT",
  );
  return doveadm ? undefined : "doveadm is not installed";
}

/** Dovecot's mbox layout over `owner`'s mailbox (handed to nobody), locking with dotlocks only; doveadm with it. */
async function dovecotFor(root: string, owner: string) {
  const home = path.join(root, owner);
  const index = path.join(root, "index");
  await mkdir(index);
  await chmod(root, 0o755); // mkdtemp makes it 0700: Dovecot runs as nobody
  await run("chown", ["-R", `${NOBODY}:${NOBODY}`, home]);
  await chown(index, NOBODY, NOBODY);
  const config = path.join(root, "dovecot.conf");
  await writeFile(
    config,
    [
      `base_dir = ${path.join(root, "run")}`,
      `state_dir = ${path.join(root, "state")}`,
      `log_path = ${path.join(root, "dovecot.log")}`,
      `mail_location = mbox:${home}/mail:INBOX=${home}/INBOX:INDEX=${index}`,
      `mail_uid = ${NOBODY}`,
      `mail_gid = ${NOBODY}`,
      "mbox_read_locks = dotlock",
      "mbox_write_locks = dotlock",
      "",
    ].join("\n"),
  );
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
  const deliveries = Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = next++; i < most && rounds < wanted; i = next++) {
        await store.deliver(
          makeEnvelope(`s${i % 3}@example.org`, ["bob@semail.test"]),
          [target("bob")],
          messageStream(text(i), 512),
        );
        delivered.push(i);
        // Gaps between appends, as between SMTP transactions, so Dovecot gets the lock too.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }),
  );
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
  assert.ok(
    rounds >= wanted && expunged.size > 0,
    `Dovecot worked during the deliveries: ${rounds} rounds, ${expunged.size} expunged`,
  );

  const inbox = await readMbox(path.join(home, "INBOX"));
  const seen = new Map<number, number>();
  for (const message of inbox) {
    const i = Number(/^m(\d+)x$/.exec(message.subject ?? "")?.[1] ?? NaN);
    if (Number.isNaN(i)) continue; // Dovecot's folder-data pseudo message
    seen.set(i, (seen.get(i) ?? 0) + 1);
    assert.equal(
      message.body.replace(/^>(>*From )/gm, "$1"),
      `${`From line ${i} and more\n`.repeat(30 + i)}end ${i}\n`,
      `${subject(i)} is whole`,
    );
  }
  for (const i of delivered)
    assert.equal(seen.get(i) ?? 0, expunged.has(i) ? 0 : 1, `${subject(i)} ${expunged.has(i) ? "expunged" : "once"}`);
  assert.equal(seen.size, delivered.length - expunged.size, "nothing else in INBOX");
  assert.equal((await readdir(home)).filter((name) => name.includes(".lock")).length, 0, "no lock left");
  t.diagnostic(`${rounds} doveadm rounds, ${expunged.size} expunged during ${delivered.length} deliveries`);
});
