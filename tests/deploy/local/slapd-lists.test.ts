// Local mode's seeded mailing list: written by the real slapd launcher, read back as a list by
// the same directory code the inbound daemon uses.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { ldapSettings } from "../../../config/sections/ldap.ts";
import { startSlapd } from "../../../deploy/local/slapd.ts";
import { createDirectory } from "../../../directory/ldap.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("a list given to startSlapd is seeded in ou=groups and read as a mailing list", async (t) => {
  const dir = await tempDir(t, "semail-slapd-lists-");
  const slapd = await startSlapd({
    dataDir: path.join(dir, "ldap"),
    users: [
      { uid: "alice", password: "alice-Secret1", mail: "alice@alice.semail.test" },
      { uid: "bob", password: "bob-Secret2", mail: "bob@bob.semail.test" },
    ],
    admins: [],
    lists: [{ cn: "team", mail: "team@semail.test", members: ["alice", "bob"], owners: ["alice"] }],
    adminPassword: "manager-Secret0",
  });
  t.after(() => slapd.stop());
  const directory = createDirectory(
    ldapSettings.parse({ url: slapd.url, baseDn: slapd.baseDn, userDnTemplate: slapd.userDnTemplate, timeoutMs: 3000 }),
  );
  t.after(() => directory.close());
  const lists = await directory.lists!();
  assert.deepEqual(
    lists.map((l) => ({ address: l.address, rule: l.rule, members: l.members, owners: l.owners })),
    [
      {
        address: "team@semail.test",
        rule: "members",
        members: [
          { uid: "alice", mail: "alice@alice.semail.test" },
          { uid: "bob", mail: "bob@bob.semail.test" },
        ],
        owners: [{ uid: "alice", mail: "alice@alice.semail.test" }],
      },
    ],
  );
});
