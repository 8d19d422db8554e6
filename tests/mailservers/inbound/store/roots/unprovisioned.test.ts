// The store never creates a mailbox root: on the VM it is the owner's filesystem, mounted
// there by provisioning, which refuses to mount over a directory holding files.
import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { PROVISIONED_MARKER } from "../../../../../config/mailbox-layout.ts";
import { MailboxNotProvisionedError } from "../../../../../mailservers/inbound/store/index.ts";
import {
  makeEnvelope,
  makeMailRoot,
  makeStore,
  messageStream,
  provisionRoot,
  readMbox,
  simpleMessage,
  target,
} from "../fixture.ts";

test("a delivery to a root that does not exist is refused (MailboxNotProvisionedError) and creates nothing; it works once the root exists", async (t) => {
  const root = await makeMailRoot(t, undefined, ["bob"]);
  const store = makeStore(t, root);
  assert.equal(await store.provisioned("bob"), true);
  assert.equal(await store.provisioned("carol"), false);
  const targets = [target("bob"), target("carol")];
  const error = await store
    .deliver(
      makeEnvelope(
        "a@example.org",
        targets.map((x) => x.recipient),
      ),
      targets,
      messageStream(simpleMessage("early")),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof MailboxNotProvisionedError, String(error));
  await assert.rejects(stat(path.join(root, "carol")), { code: "ENOENT" });
  assert.equal((await stat(path.join(root, "bob", "INBOX"))).size, 0, "nothing written for bob either");

  // An empty root is a mount point whose filesystem is not mounted: still not ready.
  await mkdir(path.join(root, "carol"));
  assert.equal(await store.provisioned("carol"), false);
  await provisionRoot(root, "carol");
  assert.equal(await store.provisioned("carol"), true);
  await store.deliver(
    makeEnvelope(
      "a@example.org",
      targets.map((x) => x.recipient),
    ),
    targets,
    messageStream(simpleMessage("later")),
  );
  for (const owner of ["bob", "carol"])
    assert.deepEqual(
      (await readMbox(path.join(root, owner, "INBOX"))).map((m) => m.subject),
      ["later"],
      owner,
    );
});

test("a root with the provisioning marker stays ready after a reader deletes its empty INBOX", async (t) => {
  const root = await makeMailRoot(t, undefined, []);
  await mkdir(path.join(root, "bob"));
  await writeFile(path.join(root, "bob", PROVISIONED_MARKER), "");
  const store = makeStore(t, root);
  assert.equal(await store.provisioned("bob"), true);
  await store.deliver(
    makeEnvelope("a@example.org", ["bob@semail.test"]),
    [target("bob")],
    messageStream(simpleMessage("back")),
  );
  assert.deepEqual(
    (await readMbox(path.join(root, "bob", "INBOX"))).map((m) => m.subject),
    ["back"],
  );
});
