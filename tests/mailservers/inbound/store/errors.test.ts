// The store's parts throw typed errors and only its front door (index.ts) picks SMTP
// replies: a held dotlock is a MailboxLockedError naming the file, and no other module of
// the store builds a reply.
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { acquireDotlock } from "../../../../mailservers/inbound/store/dotlock.ts";
import { MailboxLockedError } from "../../../../mailservers/inbound/store/errors.ts";
import { makeMailRoot } from "./fixture.ts";

const STORE_DIR = fileURLToPath(new URL("../../../../mailservers/inbound/store/", import.meta.url));

test("a dotlock held past the wait is a MailboxLockedError naming the file, not an SMTP reply", async (t) => {
  const root = await makeMailRoot(t, undefined, ["bob"]);
  const inbox = path.join(root, "bob", "INBOX");
  await writeFile(`${inbox}.lock`, "1\n");
  const error = await acquireDotlock(inbox, { timeoutMs: 50, tag: "test" }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof MailboxLockedError, String(error));
  assert.equal(error.file, inbox);
  assert.equal("responseCode" in error, false);
  assert.deepEqual((await readdir(path.join(root, "bob"))).sort(), ["INBOX", "INBOX.lock"], "the other program's lock is left alone, our link file removed");
});

test("only the store's front door builds SMTP replies", async () => {
  const builders = /\b(tempFail|permFail|TemporaryFailure|PermanentFailure|SmtpError)\b/;
  const offenders: string[] = [];
  for (const name of await readdir(STORE_DIR)) {
    if (!name.endsWith(".ts") || name === "index.ts") continue;
    const code = (await readFile(path.join(STORE_DIR, name), "utf8")).split("\n").filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line));
    if (code.some((line) => builders.test(line))) offenders.push(name);
  }
  assert.deepEqual(offenders, []);
});
