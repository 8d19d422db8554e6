// Dovecot reads what the store writes: the layout `mbox:~/mail:INBOX=~/INBOX` lists
// INBOX and the pair folders, every message is there, and the stripped Status/X-UID
// headers do not reach its flags.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { folderName } from "../../../../../mailservers/inbound/store/index.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, target } from "../fixture.ts";

const run = promisify(execFile);
const NOBODY = 65534;

test("doveadm lists and fetches every stored message", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to hand the mailbox to an unprivileged Dovecot user");
  const doveadm = await run("doveadm", ["-c", "/dev/null", "help"]).then(
    () => true,
    (e: NodeJS.ErrnoException) => e.code !== "ENOENT",
  );
  if (!doveadm) return t.skip("doveadm is not installed");
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  const senders = ["alice@example.org", "alice@example.org", "", "../../etc/passwd@x"];
  for (const [i, sender] of senders.entries()) {
    const text = `Subject: m${i}\nStatus: RO\nX-UID: 77\nX-Keywords: $Junk\n\nFrom the body\nbye\n`;
    await store.deliver(makeEnvelope(sender, ["bob@semail.test"]), [target("bob")], messageStream(text));
  }
  await store.close();

  const home = path.join(root, "bob");
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
  const list = await run("doveadm", ["-c", config, "mailbox", "list"], { env });
  assert.deepEqual(
    list.stdout.trim().split("\n").sort(),
    [
      "INBOX",
      folderName("bob@semail.test", ""),
      folderName("bob@semail.test", "../../etc/passwd@x"),
      folderName("bob@semail.test", "alice@example.org"),
    ].sort(),
  );
  const fetched = await run("doveadm", ["-c", config, "fetch", "mailbox hdr.subject flags", "ALL"], { env });
  const records = fetched.stdout
    .split("\f")
    .map((r) => r.trim())
    .filter(Boolean);
  assert.equal(records.length, 8, fetched.stdout);
  const inbox = records.filter((r) => r.startsWith("mailbox: INBOX\n"));
  assert.deepEqual(
    inbox.map((r) => /hdr\.subject: (\S+)/.exec(r)?.[1]),
    ["m0", "m1", "m2", "m3"],
  );
  for (const record of records) assert.match(record, /flags: \\Recent\s*$/, "no flag comes from the stripped headers");
});
