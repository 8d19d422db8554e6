// The slapd launcher used by `semail start` and the tests: seeds, answers, stops, and reuses its data.
import assert from "node:assert/strict";
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Client, InvalidCredentialsError } from "ldapts";
import { freeLoopbackPort } from "../../deploy/local/ports.ts";
import { seedLdif, startSlapd, type RunningSlapd } from "../../deploy/local/slapd.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function canBind(url: string, dn: string, password: string): Promise<boolean> {
  const client = new Client({ url, timeout: 3000, connectTimeout: 3000 });
  try {
    await client.bind(dn, password);
    return true;
  } catch (err) {
    if (err instanceof InvalidCredentialsError) return false;
    throw err;
  } finally {
    await client.unbind();
  }
}

describe("startSlapd", () => {
  it("seeds users and the admin group, answers on the port asked for, and stop() ends the process", async (t) => {
    const dataDir = await tempDir(t, "semail-slapd-test-");
    const port = await freeLoopbackPort();
    const slapd: RunningSlapd = await startSlapd({
      dataDir,
      port,
      users: [
        { uid: "alice", password: "pw-a", cn: "Alice", mail: "alice@semail.test" },
        { uid: "bob", password: "pw-b" },
      ],
      admins: ["bob"],
      adminPassword: "manager",
    });
    t.after(() => slapd.stop());
    assert.equal(slapd.url, `ldap://127.0.0.1:${port}`);
    assert.equal(slapd.userDnTemplate, "uid={uid},ou=people,dc=semail,dc=test");
    assert.equal(await canBind(slapd.url, "uid=alice,ou=people,dc=semail,dc=test", "pw-a"), true);
    assert.equal(await canBind(slapd.url, "uid=alice,ou=people,dc=semail,dc=test", "pw-b"), false);
    assert.equal(await canBind(slapd.url, slapd.adminDn, "manager"), true);

    const client = new Client({ url: slapd.url, timeout: 3000 });
    try {
      const group = await client.search(slapd.adminGroupDn, { scope: "base", attributes: ["member"] });
      assert.deepEqual(group.searchEntries[0]?.member, "uid=bob,ou=people,dc=semail,dc=test");
      // Anonymous readers never see password hashes.
      const alice = await client.search("uid=alice,ou=people,dc=semail,dc=test", {
        scope: "base",
        attributes: ["userPassword", "mail"],
      });
      assert.deepEqual(alice.searchEntries[0]?.userPassword, []);
      assert.equal(alice.searchEntries[0]?.mail, "alice@semail.test");
    } finally {
      await client.unbind();
    }

    assert.equal(isRunning(slapd.pid), true);
    await slapd.stop();
    assert.equal(isRunning(slapd.pid), false);
    await slapd.stop(); // idempotent
  });

  it("reuses the database on a second start, and redoes a seed that never finished", async (t) => {
    const dataDir = await tempDir(t, "semail-slapd-test-");
    const first = await startSlapd({
      dataDir,
      port: 0,
      users: [{ uid: "alice", password: "pw-a" }],
      admins: [],
      adminPassword: "manager",
    });
    const client = new Client({ url: first.url, timeout: 3000 });
    try {
      await client.bind(first.adminDn, "manager");
      await client.add("uid=carol,ou=people,dc=semail,dc=test", {
        objectClass: "inetOrgPerson",
        uid: "carol",
        cn: "carol",
        sn: "carol",
        userPassword: "pw-c",
      });
    } finally {
      await client.unbind();
    }
    await first.stop();

    const second = await startSlapd({
      dataDir,
      users: [{ uid: "dave", password: "pw-d" }],
      admins: [],
      adminPassword: "manager2",
    });
    t.after(() => second.stop());
    assert.equal(
      await canBind(second.url, "uid=carol,ou=people,dc=semail,dc=test", "pw-c"),
      true,
      "data added in the first run is kept",
    );
    assert.equal(
      await canBind(second.url, "uid=dave,ou=people,dc=semail,dc=test", "pw-d"),
      false,
      "the seed is not applied again",
    );
    assert.equal(await canBind(second.url, second.adminDn, "manager2"), true, "the config (rootpw) is rewritten");
    await second.stop();

    await unlink(join(dataDir, "db", "seeded"));
    const third = await startSlapd({
      dataDir,
      users: [{ uid: "dave", password: "pw-d" }],
      admins: [],
      adminPassword: "manager",
    });
    t.after(() => third.stop());
    assert.equal(await canBind(third.url, "uid=dave,ou=people,dc=semail,dc=test", "pw-d"), true);
    assert.equal(await canBind(third.url, "uid=carol,ou=people,dc=semail,dc=test", "pw-c"), false);
  });

  it("refuses to start beside a slapd left running on the same data by an earlier run", async (t) => {
    const dataDir = await tempDir(t, "semail-slapd-test-");
    const first = await startSlapd({ dataDir, users: [], admins: [], adminPassword: "manager" });
    t.after(() => first.stop());
    assert.equal(Number((await readFile(join(dataDir, "slapd.pid"), "utf8")).trim()), first.pid);
    await assert.rejects(
      startSlapd({ dataDir, users: [], admins: [], adminPassword: "manager" }),
      new RegExp(`pid ${first.pid}`),
    );
    await first.stop();
    const second = await startSlapd({ dataDir, users: [], admins: [], adminPassword: "manager" });
    await second.stop();
  });

  it("refuses seed users that are not valid uids, and an empty admin password", async (t) => {
    const dataDir = await tempDir(t, "semail-slapd-test-");
    await assert.rejects(
      startSlapd({ dataDir, users: [{ uid: "a,b", password: "x" }], admins: [], adminPassword: "m" }),
      /not a valid uid/,
    );
    await assert.rejects(startSlapd({ dataDir, users: [], admins: ["*"], adminPassword: "m" }), /not a valid uid/);
    await assert.rejects(startSlapd({ dataDir, users: [], admins: [], adminPassword: "" }), /adminPassword/);
  });
});

describe("seedLdif", () => {
  it("base64-encodes values that could add lines or attributes", () => {
    const ldif = seedLdif(
      "dc=semail,dc=test",
      "cn=admin,dc=semail,dc=test",
      [{ uid: "eve", password: "x", cn: "Eve\nuserPassword: stolen", mail: ":odd" }],
      [],
    );
    assert.doesNotMatch(ldif, /^userPassword: stolen/m);
    assert.match(ldif, new RegExp(`^cn:: ${Buffer.from("Eve\nuserPassword: stolen").toString("base64")}$`, "m"));
    assert.match(ldif, new RegExp(`^mail:: ${Buffer.from(":odd").toString("base64")}$`, "m"));
    assert.match(ldif, /^member: cn=admin,dc=semail,dc=test$/m);
  });
});
