// Mailing lists on the administrators' page, written to a real slapd as its manager
// (ldap.bindDn): create, add and remove a member, delete; each read back from the directory,
// each logged with the administrator's uid, and each refused with 403 for a plain user.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { test, type TestContext } from "node:test";
import { Client as LdapClient, NoSuchObjectError, type Entry } from "ldapts";
import { pino } from "pino";
import type { Directory } from "../../config/directory.ts";
import { createDirectory } from "../../directory/ldap.ts";
import { TEST_ADMIN_PASSWORD, TEST_USERS, slapdForFile } from "../helpers/slapd.ts";
import { type Client, loggedInClient, startForm, type RunningForm } from "./helpers.ts";

const PASSWORDS = new Map(TEST_USERS.map((u) => [u.uid, u.password]));
const LOOSE = { rateLimit: { loginsPerIp: 1000, requestsPerMinute: 100_000 } };
const slapd = slapdForFile();
// Made in a test, once the file's slapd is up; createDirectory holds nothing open.
const writingDirectory = () =>
  createDirectory(slapd.settings({ bindDn: slapd.adminDn, bindPassword: TEST_ADMIN_PASSWORD }));

const loggedIn = (form: RunningForm, uid: string): Promise<Client> => loggedInClient(form, uid, PASSWORDS.get(uid)!);
const alert = (text: string) =>
  /role="alert">([^<]*)</.exec(text)?.[1]?.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))) ?? "";
const groupsDn = () => `ou=groups,${slapd.baseDn}`;
const personDn = (uid: string) => slapd.userDnTemplate.replace("{uid}", uid);

/** The group at `dn` as the directory's manager reads it, or undefined when there is none. */
async function group(dn: string): Promise<Entry | undefined> {
  const client = new LdapClient({ url: slapd.url, timeout: 3000, connectTimeout: 3000 });
  try {
    await client.bind(slapd.adminDn, TEST_ADMIN_PASSWORD);
    return (await client.search(dn, { scope: "base", attributes: ["*"] })).searchEntries[0];
  } catch (err) {
    if (err instanceof NoSuchObjectError) return undefined;
    throw err;
  } finally {
    await client.unbind();
  }
}
const many = (value: Entry[string] | undefined) =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String).sort();

/** A form on the writing directory whose log lines the test reads; alice owns alice@semail.test with the alias sales. */
async function listForm(t: TestContext, directory: Directory = writingDirectory()) {
  const text: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text.push(chunk.toString());
      done();
    },
  });
  const form = await startForm(t, { directory, web: LOOSE, logger: pino({ level: "info" }, sink) });
  // The slapd is the file's: each test leaves no list behind for the next.
  t.after(async () => {
    const cleaner = writingDirectory();
    for (const list of await cleaner.lists!()) await cleaner.listWriter!.remove(list.dn);
  });
  await writeFile(
    form.usersFile,
    "mailboxes:\n  - owner: alice\n    address: alice@semail.test\n    aliases: [sales]\n",
  );
  const logs = () =>
    text
      .join("")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { form, logs };
}

test("an administrator creates a list, adds and removes members and deletes it; the directory shows each change, logged with their uid", async (t) => {
  const { form, logs } = await listForm(t);
  const admin = await loggedIn(form, "admin");
  const page = await admin.get("/admin");
  assert.match(page.text, /<h2 id="lists">Mailing lists<\/h2>/);
  assert.match(page.text, /There are no lists yet/);

  const created = await admin.post("/admin/lists", {
    name: "Team",
    localPart: "Team",
    members: "alice, bob",
    rule: "anyone",
  });
  assert.equal(created.status, 303, alert(created.text));
  assert.equal(created.location, "/admin?list-created#lists");
  const dn = `cn=Team,${groupsDn()}`;
  const entry = await group(dn);
  assert.ok(entry, "the group is in the directory");
  assert.deepEqual(many(entry.objectClass), ["extensibleObject", "groupOfNames"]);
  assert.equal(String(entry.mail), "team@semail.test");
  assert.deepEqual(many(entry.member), [personDn("alice"), personDn("bob")].sort());
  assert.equal(String(entry.owner), personDn("admin"));
  assert.equal(String(entry.businessCategory), "post: anyone");
  // The inbound daemon's reader sees it as a list.
  const lists = await writingDirectory().lists!();
  assert.deepEqual(
    lists.map((l) => [l.address, l.rule, l.members.map((m) => m.uid).sort()]),
    [["team@semail.test", "anyone", ["alice", "bob"]]],
  );
  const shown = (await admin.get("/admin?list-created")).text;
  assert.match(shown, /<span class="address">team@semail\.test<\/span> \(Team\)/);
  assert.match(shown, /<strong class="rule">anyone<\/strong>/);
  assert.match(shown, /aria-label="Remove bob from team@semail\.test"/);

  assert.equal((await admin.post("/admin/lists/members", { list: "team@semail.test", uid: "admin" })).status, 303);
  assert.deepEqual(many((await group(dn))?.member), [personDn("admin"), personDn("alice"), personDn("bob")].sort());
  const again = await admin.post("/admin/lists/members", { list: "team@semail.test", uid: "admin" });
  assert.equal(again.status, 409, "a member is added once");

  assert.equal((await admin.post("/admin/lists/members/remove", { list: "team@semail.test", uid: "bob" })).status, 303);
  assert.deepEqual(many((await group(dn))?.member), [personDn("admin"), personDn("alice")].sort());
  const notThere = await admin.post("/admin/lists/members/remove", { list: "team@semail.test", uid: "bob" });
  assert.equal(notThere.status, 404, alert(notThere.text));

  const deleted = await admin.post("/admin/lists/delete", { list: "team@semail.test" });
  assert.equal(deleted.status, 303);
  assert.equal(await group(dn), undefined, "the group is gone");

  const lines = logs().filter((l) => typeof l.msg === "string" && /by an administrator/.test(l.msg as string));
  assert.deepEqual(
    lines.map((l) => [l.msg, l.admin, l.list]),
    [
      ["mailing list created by an administrator", "admin", "team@semail.test"],
      ["list member added by an administrator", "admin", "team@semail.test"],
      ["list member removed by an administrator", "admin", "team@semail.test"],
      ["mailing list deleted by an administrator", "admin", "team@semail.test"],
    ],
  );
});

test("a list address that a mailbox has (address or alias), a role name, a taken one or an unknown member is refused; nothing is written", async (t) => {
  const { form } = await listForm(t);
  const admin = await loggedIn(form, "admin");
  const tries: Array<[Record<string, string>, number, RegExp]> = [
    [{ localPart: "sales" }, 409, /mailbox of alice/],
    [{ localPart: "alice" }, 409, /mailbox of alice/],
    [{ localPart: "postmaster" }, 409, /reserved role name/],
    [{ localPart: "team@elsewhere.example" }, 400, /on semail\.test/],
    [{ localPart: "team", members: "alice, nobody" }, 400, /no person "nobody"/],
    [{ localPart: "team", members: "alice,b(ob" }, 400, /not a valid uid/],
    [{ localPart: "team", rule: "moderators" }, 400, /who may post/],
    [{ localPart: "team", name: "x,ou=people" }, 400, /Name the list/],
  ];
  for (const [fields, status, message] of tries) {
    const reply = await admin.post("/admin/lists", { name: "Team", members: "alice", rule: "members", ...fields });
    assert.equal(reply.status, status, `${JSON.stringify(fields)}: ${alert(reply.text)}`);
    assert.match(alert(reply.text), message);
  }
  assert.deepEqual(await writingDirectory().lists!(), [], "no list was made");
  assert.equal(await group(`cn=Team,${groupsDn()}`), undefined);

  assert.equal(
    (await admin.post("/admin/lists", { name: "Team", localPart: "team", members: "alice", rule: "members" })).status,
    303,
  );
  const twice = await admin.post("/admin/lists", { name: "Other", localPart: "team", members: "bob", rule: "members" });
  assert.equal(twice.status, 409);
  assert.match(alert(twice.text), /already a list at team@semail\.test/);
  // groupOfNames keeps one member: the last one goes with the list.
  const last = await admin.post("/admin/lists/members/remove", { list: "team@semail.test", uid: "alice" });
  assert.equal(last.status, 409);
  assert.match(alert(last.text), /at least one member/);
  assert.deepEqual(many((await group(`cn=Team,${groupsDn()}`))?.member), [personDn("alice")]);
  // Only a list is ever deleted: the admin group has no mail, so it is not one.
  assert.equal((await admin.post("/admin/lists/delete", { list: "admins" })).status, 404);
  assert.ok(await group(`cn=admins,${groupsDn()}`));
});

test("a plain user gets 403 for every list action and the directory does not change", async (t) => {
  const { form, logs } = await listForm(t);
  const admin = await loggedIn(form, "admin");
  assert.equal(
    (await admin.post("/admin/lists", { name: "Team", localPart: "team", members: "alice", rule: "members" })).status,
    303,
  );
  const dn = `cn=Team,${groupsDn()}`;
  const before = await group(dn);
  const bob = await loggedIn(form, "bob");
  assert.equal((await bob.get("/admin")).status, 403);
  const actions: Array<[string, Record<string, string>]> = [
    ["/admin/lists", { name: "Mine", localPart: "mine", members: "bob", rule: "anyone" }],
    ["/admin/lists/members", { list: "team@semail.test", uid: "bob" }],
    ["/admin/lists/members/remove", { list: "team@semail.test", uid: "alice" }],
    ["/admin/lists/delete", { list: "team@semail.test" }],
  ];
  for (const [path, fields] of actions) {
    const reply = await bob.post(path, fields);
    assert.equal(reply.status, 403, path);
    assert.match(reply.text, /Administrators only/);
  }
  assert.deepEqual(await group(dn), before, "the list is as it was");
  assert.equal(await group(`cn=Mine,${groupsDn()}`), undefined);
  assert.equal(logs().filter((l) => l.admin === "bob").length, 0);
  // An administrator's form without its CSRF token is refused too.
  const forged = await admin.post("/admin/lists/delete", { list: "team@semail.test", _csrf: "forged" });
  assert.equal(forged.status, 403);
  assert.ok(await group(dn));
});

test("without ldap.bindDn the page shows the lists, says why there are no buttons, and refuses changes", async (t) => {
  const { form } = await listForm(t);
  const admin = await loggedIn(form, "admin");
  assert.equal(
    (await admin.post("/admin/lists", { name: "Ro", localPart: "ro", members: "alice", rule: "members" })).status,
    303,
  );
  const { form: plain } = await listForm(t, createDirectory(slapd.settings()));
  const viewer = await loggedIn(plain, "admin");
  const page = (await viewer.get("/admin")).text;
  assert.match(page, /<span class="address">ro@semail\.test<\/span>/);
  assert.match(page, /no credentials to write to the directory/);
  assert.doesNotMatch(page, /action="\/admin\/lists/);
  const refused = await viewer.post("/admin/lists/delete", { list: "ro@semail.test" });
  assert.equal(refused.status, 409);
  assert.ok(await group(`cn=Ro,${groupsDn()}`));
});
