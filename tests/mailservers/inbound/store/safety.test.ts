// Targets a user could plant in their own mailbox: a symlink, a hard link, a FIFO at a
// folder are refused (the mail still reaches INBOX); an unsafe INBOX is refused and
// nothing is kept for anyone. Owners that would leave the mail root are refused. A mail/
// swapped for a symlink mid-delivery leads nowhere; what the store creates is the user's.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { once } from "node:events";
import { chown, link, mkdir, readFile, readdir, rm, symlink, writeFile, lstat, stat } from "node:fs/promises";
import { renameSync, symlinkSync } from "node:fs";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import {
  InvalidOwnerError,
  UnsafeInboxError,
  UnsafeMailboxRootError,
  folderName,
} from "../../../../mailservers/inbound/store/index.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, readMbox, simpleMessage, target } from "./fixture.ts";

const run = promisify(execFile);
const SENDER = "alice@example.org";
const RECIPIENT = "bob@semail.test";

async function withPlanted(t: TestContext, plant: (folderPath: string, outside: string) => Promise<void>) {
  const root = await makeMailRoot(t);
  await mkdir(path.join(root, "bob", "mail"), { recursive: true });
  const outside = path.join(root, "outside");
  await writeFile(outside, "precious\n");
  const folderPath = path.join(root, "bob", "mail", folderName(RECIPIENT, SENDER));
  await plant(folderPath, outside);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope(SENDER, [RECIPIENT]),
    [target("bob", RECIPIENT)],
    messageStream(simpleMessage("planted")),
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["planted"],
    "INBOX still gets the mail",
  );
  assert.equal(await readFile(outside, "utf8"), "precious\n", "the link target is untouched");
  assert.ok(!(await readdir(path.join(root, "bob", "mail"))).some((n) => n.endsWith(".lock")), "no lock left");
  return { root, folderPath };
}

test("a symlink at a folder target is refused, INBOX still gets the mail", async (t) => {
  const { folderPath } = await withPlanted(t, (folderPath, outside) => symlink(outside, folderPath));
  assert.ok((await lstat(folderPath)).isSymbolicLink());
});

test("a hard-linked folder target is refused", async (t) => {
  await withPlanted(t, (folderPath, outside) => link(outside, folderPath));
});

test("a FIFO at a folder target is refused without blocking", async (t) => {
  await withPlanted(t, async (folderPath) => {
    await run("mkfifo", [folderPath]);
  });
});

test("a symlinked mail/ directory loses only the folder copy", async (t) => {
  const root = await makeMailRoot(t);
  const elsewhere = path.join(root, "elsewhere");
  await mkdir(elsewhere);
  await symlink(elsewhere, path.join(root, "bob", "mail"));
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope(SENDER, [RECIPIENT]),
    [target("bob", RECIPIENT)],
    messageStream(simpleMessage("no folder")),
  );
  assert.deepEqual(await readdir(elsewhere), []);
  assert.equal((await readMbox(path.join(root, "bob", "INBOX"))).length, 1);
});

test("an unsafe INBOX is refused (UnsafeInboxError) and the other recipients' copies are rolled back", async (t) => {
  const root = await makeMailRoot(t);
  const outside = path.join(root, "outside");
  await writeFile(outside, "precious\n");
  // carol sorts after bob: bob's INBOX and folder are written before carol's INBOX is refused.
  await mkdir(path.join(root, "carol", "mail"), { recursive: true });
  await rm(path.join(root, "carol", "INBOX"));
  await symlink(outside, path.join(root, "carol", "INBOX"));
  const store = makeStore(t, root);
  const error = await store
    .deliver(
      makeEnvelope(SENDER, [RECIPIENT, "carol@semail.test"]),
      [target("bob", RECIPIENT), target("carol")],
      messageStream(simpleMessage("x")),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof UnsafeInboxError, String(error));
  assert.equal(await readFile(outside, "utf8"), "precious\n");
  assert.equal((await readFile(path.join(root, "bob", "INBOX"))).length, 0, "bob's copy was rolled back");
  assert.equal((await readFile(path.join(root, "bob", "mail", folderName(RECIPIENT, SENDER)))).length, 0);
});

test("a mailbox root that is a symlink is refused, and owners that would leave the mail root are refused", async (t) => {
  const root = await makeMailRoot(t, undefined, []);
  const elsewhere = path.join(root, "elsewhere");
  await mkdir(elsewhere);
  await symlink(elsewhere, path.join(root, "bob"));
  const store = makeStore(t, root);
  for (const owner of ["bob", "..", "../x", "a/b", ".tmp", "", "Bob"]) {
    const stream = messageStream(simpleMessage("x"));
    const ended = once(stream, "end");
    const error = await store.deliver(makeEnvelope(SENDER, [RECIPIENT]), [target(owner, RECIPIENT)], stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    const refusal = owner === "bob" ? UnsafeMailboxRootError : InvalidOwnerError;
    assert.ok(error instanceof refusal, `${owner}: ${String(error)}`);
    await ended; // drained, so the SMTP side can send its reply
  }
  assert.deepEqual(await readdir(elsewhere), []);
  await assert.rejects(store.usage("../etc"), InvalidOwnerError);
});

test("a mail/ swapped for a symlink after the checks leads nowhere: nothing is written outside, INBOX gets the mail", async (t) => {
  for (const existing of [true, false]) {
    const root = await makeMailRoot(t);
    const mail = path.join(root, "bob", "mail");
    await mkdir(mail, { recursive: true });
    const outside = path.join(root, "outside");
    await mkdir(outside);
    const name = folderName(RECIPIENT, SENDER);
    if (existing) await writeFile(path.join(outside, name), "precious\n");
    // The user's move, made from their container while the store holds the folder's lock.
    const faults = {
      crashAt(point: string, file: string) {
        if (point !== "lock-taken" || file !== path.join(mail, name)) return;
        renameSync(mail, `${mail}.real`);
        symlinkSync(outside, mail);
      },
    };
    const store = makeStore(t, root, { faults });
    await store.deliver(
      makeEnvelope(SENDER, [RECIPIENT]),
      [target("bob", RECIPIENT)],
      messageStream(simpleMessage("swapped")),
    );
    assert.deepEqual(
      (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
      ["swapped"],
      "INBOX still gets the mail",
    );
    const planted = await readFile(path.join(outside, name), "utf8").catch(() => "");
    assert.equal(
      planted,
      existing ? "precious\n" : "",
      existing ? "the file outside is untouched" : "nothing written outside",
    );
  }
});

test("mail/ and the folder files the store creates belong to the mailbox's owner", {
  skip: process.geteuid?.() !== 0 && "chown needs root",
}, async (t) => {
  const root = await makeMailRoot(t);
  const bob = path.join(root, "bob");
  await rm(path.join(bob, "mail"), { recursive: true, force: true });
  const nobody = 65534;
  await chown(bob, nobody, nobody);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope(SENDER, [RECIPIENT]),
    [target("bob", RECIPIENT)],
    messageStream(simpleMessage("owned")),
  );
  for (const created of [path.join(bob, "mail"), path.join(bob, "mail", folderName(RECIPIENT, SENDER))]) {
    const { uid, gid } = await stat(created);
    assert.deepEqual([uid, gid], [nobody, nobody], created);
  }
  assert.equal((await stat(path.join(bob, "INBOX"))).uid, 0, "INBOX keeps the owner provisioning gave it");
});
