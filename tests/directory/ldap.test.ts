// directory/ldap.ts against a real slapd: logins, the same "no" for every bad login, injection, admin group.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createDirectory } from "../../directory/ldap.ts";
import type { Directory } from "../../config/directory.ts";
import { TEST_ADMIN_PASSWORD, slapdForFile } from "../helpers/slapd.ts";

const INJECTIONS = [
  "*)(uid=*",
  "admin)(|(uid=*",
  "*",
  "admin*",
  "ad*",
  "alice)(objectClass=*",
  "alice\\2a",
  "uid=alice,ou=people",
  "alice,ou=people",
  "\u0000alice",
];

const slapd = slapdForFile();

const modes: Array<[string, () => Directory]> = [
  ["user DN template", () => createDirectory(slapd.settings())],
  [
    "search filter, anonymous",
    () => createDirectory(slapd.settings({ userFilter: "(&(objectClass=inetOrgPerson)(uid={uid}))" })),
  ],
  [
    "search filter, service account",
    () =>
      createDirectory(
        slapd.settings({
          userFilter: "(&(objectClass=inetOrgPerson)(uid={uid}))",
          bindDn: slapd.adminDn,
          bindPassword: TEST_ADMIN_PASSWORD,
        }),
      ),
  ],
];

for (const [mode, make] of modes) {
  describe(`LDAP directory (${mode})`, () => {
    it("accepts the right password and returns the user's entry", async () => {
      const outcome = await make().authenticate("alice", "alice-Secret1");
      assert.deepEqual(outcome, {
        ok: true,
        user: {
          uid: "alice",
          dn: "uid=alice,ou=people,dc=semail,dc=test",
          displayName: "Alice Example",
          mail: "alice@example.test",
        },
      });
    });

    it("accepts a login name in capitals as the lowercase uid", async () => {
      const outcome = await make().authenticate("Bob", "bob-Secret2");
      assert.equal(outcome.ok, true);
      assert.equal(outcome.ok && outcome.user.uid, "bob");
      assert.equal(outcome.ok && outcome.user.mail, undefined);
    });

    it("gives the same answer for a wrong password and an unknown user", async () => {
      const directory = make();
      assert.deepEqual(await directory.authenticate("alice", "bob-Secret2"), { ok: false });
      assert.deepEqual(await directory.authenticate("carol", "alice-Secret1"), { ok: false });
      assert.deepEqual(await directory.authenticate("alice", "alice-Secret1 "), { ok: false });
    });

    it("refuses an empty password (an anonymous bind would 'succeed')", async () => {
      assert.deepEqual(await make().authenticate("alice", ""), { ok: false });
    });

    it("refuses filter and DN injection in the login name, even with a valid password", async () => {
      const directory = make();
      for (const login of INJECTIONS) {
        for (const password of ["admin-Secret3", "alice-Secret1", "x"]) {
          assert.deepEqual(
            await directory.authenticate(login, password),
            { ok: false },
            `${JSON.stringify(login)} / ${password}`,
          );
        }
        assert.equal(await directory.isAdmin(login), false, JSON.stringify(login));
      }
    });

    it("knows the members of the admin group", async () => {
      const directory = make();
      assert.equal(await directory.isAdmin("admin"), true);
      assert.equal(await directory.isAdmin("alice"), false);
      assert.equal(await directory.isAdmin("nobody"), false);
    });
  });
}

describe("LDAP directory settings", () => {
  it("finds no admin when the admin group does not exist", async () => {
    const directory = createDirectory(slapd.settings({ adminGroupDn: "cn=missing,ou=groups,dc=semail,dc=test" }));
    assert.equal(await directory.isAdmin("admin"), false);
  });

  it("recognises posixGroup memberUid and groupOfUniqueNames uniqueMember groups", async () => {
    const { Client } = await import("ldapts");
    const client = new Client({ url: slapd.url, timeout: 3000, connectTimeout: 3000 });
    try {
      await client.bind(slapd.adminDn, TEST_ADMIN_PASSWORD);
      await client.add("cn=posix-admins,ou=groups,dc=semail,dc=test", {
        objectClass: "posixGroup",
        cn: "posix-admins",
        gidNumber: "5000",
        memberUid: "bob",
      });
      await client.add("cn=unique-admins,ou=groups,dc=semail,dc=test", {
        objectClass: "groupOfUniqueNames",
        cn: "unique-admins",
        uniqueMember: "uid=alice,ou=people,dc=semail,dc=test",
      });
    } finally {
      await client.unbind();
    }
    const posix = createDirectory(slapd.settings({ adminGroupDn: "cn=posix-admins,ou=groups,dc=semail,dc=test" }));
    assert.equal(await posix.isAdmin("bob"), true);
    assert.equal(await posix.isAdmin("alice"), false);
    const unique = createDirectory(slapd.settings({ adminGroupDn: "cn=unique-admins,ou=groups,dc=semail,dc=test" }));
    assert.equal(await unique.isAdmin("alice"), true);
    assert.equal(await unique.isAdmin("bob"), false);
  });

  it("reports a wrong service account password as an outage, not as a wrong user password", async () => {
    const { DirectoryUnavailableError } = await import("../../config/directory.ts");
    const directory = createDirectory(
      slapd.settings({ userFilter: "(uid={uid})", bindDn: slapd.adminDn, bindPassword: "wrong" }),
    );
    await assert.rejects(directory.authenticate("alice", "alice-Secret1"), DirectoryUnavailableError);
  });

  it("refuses a malformed search filter and a bindDn without password at creation", () => {
    assert.throws(() => createDirectory(slapd.settings({ userFilter: "(uid={uid}" })), /ldap\.userFilter/);
    assert.throws(() => createDirectory(slapd.settings({ bindDn: slapd.adminDn })), /ldap\.bindPassword/);
    assert.throws(() => createDirectory(slapd.settings({ caFile: "/nonexistent/ca.pem" })), /ldap\.caFile/);
  });
});
