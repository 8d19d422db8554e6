// The store throws typed errors in storage terms and never speaks SMTP (the inbound
// backend picks the replies, tests/mailservers/inbound/backend-store-replies.test.ts): a
// held dotlock is a MailboxLockedError naming the file, and no module of the store builds
// a reply.
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { acquireDotlock } from "../../../../mailservers/inbound/store/append/dotlock.ts";
import { MailboxLockedError } from "../../../../mailservers/inbound/store/errors.ts";
import { makeMailRoot } from "./fixture.ts";

const STORE_DIR = fileURLToPath(new URL("../../../../mailservers/inbound/store/", import.meta.url));

test("a dotlock held past the wait is a MailboxLockedError naming the file, not an SMTP reply", async (t) => {
  const root = await makeMailRoot(t, undefined, ["bob"]);
  const inbox = path.join(root, "bob", "INBOX");
  await writeFile(`${inbox}.lock`, "1\n");
  const error = await acquireDotlock(inbox, { timeoutMs: 50, tag: "test" }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof MailboxLockedError, String(error));
  assert.equal(error.file, inbox);
  assert.equal("responseCode" in error, false);
  assert.deepEqual(
    (await readdir(path.join(root, "bob"))).sort(),
    ["INBOX", "INBOX.lock"],
    "the other program's lock is left alone, our link file removed",
  );
});

test("no module of the store builds SMTP replies", async () => {
  const builders = /\b(tempFail|permFail|TemporaryFailure|PermanentFailure|SmtpError|responseCode)\b/;
  const offenders: string[] = [];
  const names = (await readdir(STORE_DIR, { recursive: true })).filter((name) => name.endsWith(".ts"));
  assert.ok(
    names.includes("index.ts") && names.includes(path.join("append", "dotlock.ts")),
    "the walk reaches every sub-folder",
  );
  for (const name of names) {
    const code = (await readFile(path.join(STORE_DIR, name), "utf8"))
      .split("\n")
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line));
    if (code.some((line) => builders.test(line))) offenders.push(name);
  }
  assert.deepEqual(offenders, []);
});
