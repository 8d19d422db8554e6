// The quota walk and the owner's home: <root>/home (their container's ~, config/stack/
// user-container.ts) may hold any number of files, so the walk RCPT waits for skips it; the
// home counts against the mailbox's size through its own filesystem (room.ts). A folder
// of the same name under mail/ is mail, and is counted.
import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { USER_HOME_NAME } from "../../../../../config/stack/user-container.ts";
import { folderName } from "../../../../../mailservers/inbound/store/index.ts";
import { mailRootUsage } from "../../../../../mailservers/inbound/store/roots/usage.ts";
import { makeEnvelope, makeMailRoot, makeStore, messageStream, simpleMessage, target } from "../fixture.ts";

test("the quota walk skips the owner's home and counts the rest of the root", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("1", "hello\n")),
  );
  const bob = path.join(root, "bob");
  const home = path.join(bob, USER_HOME_NAME);
  await mkdir(path.join(home, "project"), { recursive: true });
  await writeFile(path.join(home, "project", "big"), Buffer.alloc(1 << 20));
  await writeFile(path.join(home, "sent"), "x".repeat(5000));
  await writeFile(path.join(bob, "mail", USER_HOME_NAME), "y".repeat(300));
  const mail =
    (await stat(path.join(bob, "INBOX"))).size +
    (await stat(path.join(bob, "mail", folderName("bob@semail.test", "a@example.org")))).size;
  assert.equal(
    await makeStore(t, root).usage("bob"),
    mail + 300,
    "INBOX, the pair folder and mail/home; nothing of <root>/home",
  );
});

test("mailRootUsage, as the report and the web form read it: the store's count, undefined where not provisioned", async (t) => {
  const root = await makeMailRoot(t);
  const store = makeStore(t, root);
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("1", "hello\n")),
  );
  const usage = mailRootUsage(root);
  assert.equal(await usage("bob"), await store.usage("bob"));
  assert.ok(((await usage("bob")) ?? 0) > 0, "the message counted");
  assert.equal(await usage("nobody"), undefined, "no root");
  await writeFile(path.join(root, "plainfile"), "x");
  assert.equal(await usage("plainfile"), undefined, "a root that is not a directory");
  await mkdir(path.join(root, "empty"));
  assert.equal(await usage("empty"), undefined, "a directory without the marker or INBOX: not mounted");
});
