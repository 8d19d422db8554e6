// index.ts itself, imported once under the mocks (each file runs in its own process).
import assert from "node:assert/strict";
import { test } from "node:test";
import { PROJECT_DIR, SECRET_KEYS, baseConfig } from "../testkit/pulumi-mocks/stack-fixtures.ts";
import { record, reveal, settle } from "../testkit/pulumi-mocks/harness.ts";

test("index.ts reads the stack config and the users list file, and exports the outputs", async () => {
  const config = baseConfig({ usersList: "tests/components/fixtures/users.yaml" });
  const { resources, result } = await record(config, SECRET_KEYS, () => import("../index.ts"));
  assert.deepEqual(
    resources
      .filter((r) => r.type === "semail:infra:Mailbox")
      .map((r) => r.name)
      .sort(),
    ["mailbox-alice", "mailbox-bob"],
  );
  assert.equal((await settle(result.vmAddress)).value, "192.0.2.25");
  assert.equal(result.ldapUrl, "ldap://semail-ldap:389");
  assert.deepEqual(result.externalMxRecords, { "bob@example.org": "example.org. 3600 IN MX 10 mx.semail.email." });
  assert.match((await settle(result.zone)).value, /^alice 3600 IN MX 10 mx\.semail\.email\.$/m);
  assert.equal((await settle(result.userSshCommands.alice)).value, "ssh -J semail-jump@192.0.2.25 alice@172.30.0.2");
  assert.equal(result.webmailUrl, "https://mx.semail.email/");
  const storage = reveal(resources.find((r) => r.name === "mailbox-alice-storage")?.inputs) as { create: string };
  assert.match(storage.create, /mailbox-fs\.sh create --owner alice --size 1073741824 /);
  // The build context is the project (the Dockerfiles are under assets/images/).
  const image = reveal(resources.find((r) => r.name === "image-daemons-build")?.inputs) as {
    build: { context: string };
  };
  assert.equal(image.build.context, PROJECT_DIR);
});
