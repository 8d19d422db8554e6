// Mailing lists read from the real slapd: groupOfNames and posixGroup, owners, the posting
// rule and the moderators' group; a group without `mail` is no list.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createDirectory } from "../../directory/ldap.ts";
import { slapdForFile } from "../helpers/slapd.ts";
import { asManager, groupDn, personDn } from "../mailservers/inbound/lists/ldap-groups.ts";

const slapd = slapdForFile({
  users: [
    { uid: "alice", password: "alice-Secret1", mail: "Alice@Semail.test" },
    { uid: "bob", password: "bob-Secret2" },
    { uid: "admin", password: "admin-Secret3" },
  ],
});

describe("directory lists", () => {
  it("reads every group with a mail in the groups branch, its members, owners, rule and moderators", async () => {
    await asManager(slapd, async (client) => {
      await client.add(groupDn(slapd, "mods"), {
        objectClass: ["groupOfNames"],
        cn: "mods",
        member: [personDn(slapd, "bob")],
      });
      await client.add(groupDn(slapd, "news"), {
        objectClass: ["groupOfNames", "extensibleObject"],
        cn: "news",
        mail: "News@semail.test",
        member: [personDn(slapd, "alice"), personDn(slapd, "bob"), `uid=nobody,ou=people,${slapd.baseDn}`],
        owner: [personDn(slapd, "alice")],
        businessCategory: "post: moderators",
        seeAlso: groupDn(slapd, "mods"),
      });
      await client.add(groupDn(slapd, "unix"), {
        objectClass: ["posixGroup", "extensibleObject"],
        cn: "unix",
        gidNumber: "5000",
        mail: "unix@semail.test",
        // The second is refused before it reaches a DN or a filter.
        memberUid: ["bob", "*)(uid=*"],
        businessCategory: "post: whoever",
      });
    });
    const directory = createDirectory(slapd.settings());
    const lists = [...((await directory.lists?.()) ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(
      lists.map((l) => ({ name: l.name, address: l.address, rule: l.rule })),
      [
        { name: "news", address: "news@semail.test", rule: "moderators" },
        { name: "unix", address: "unix@semail.test", rule: "members" },
      ],
      "admins and mods have no mail; an unknown rule is members",
    );
    const [news, unix] = lists;
    assert.deepEqual(news?.members, [{ uid: "alice", mail: "alice@semail.test" }, { uid: "bob" }]);
    assert.deepEqual(news?.owners, [{ uid: "alice", mail: "alice@semail.test" }]);
    assert.deepEqual(news?.moderators, [{ uid: "bob" }]);
    assert.deepEqual(unix?.members, [{ uid: "bob" }]);

    const elsewhere = createDirectory(slapd.settings({ groupsDn: `ou=people,${slapd.baseDn}` }));
    assert.deepEqual(await elsewhere.lists?.(), [], "ldap.groupsDn names the branch searched");
  });

  it("rejects when the directory cannot be asked, so the daemon keeps its last lists", async () => {
    const down = createDirectory(slapd.settings({ url: "ldap://127.0.0.1:1", timeoutMs: 500 }));
    await assert.rejects(down.lists!(), { name: "DirectoryUnavailableError" });
  });
});
