import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile, rm, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../cli/logger.ts";
import { watchUsersList, writeUsersList } from "../../config/users-file.ts";
import { parseUsersList, UsersListError } from "../../config/users-list.ts";

const options = { managedDomain: "semail.email", defaultSize: 5 * 1024 ** 3, minSize: 64 * 1024 ** 2 };

function problems(text: string): readonly string[] {
  try {
    parseUsersList(text, options);
  } catch (err) {
    assert.ok(err instanceof UsersListError);
    return err.problems;
  }
  assert.fail("expected the list to be refused");
}

test("a valid list is indexed, with kinds, sizes and lowercased domains", () => {
  const list = parseUsersList(
    `mailboxes:
  - owner: sow
    address: souleymane@SOW.semail.email
    size: 1GiB
    sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE5x user@host"]
  - owner: ada
    address: ada@example.org
  - owner: root.admin
    address: admin@semail.email
`,
    options,
  );
  assert.equal(list.mailboxes.length, 3);
  const sow = list.byAddress("souleymane@sow.SEMAIL.email");
  assert.equal(sow?.owner, "sow");
  assert.equal(sow?.kind, "subdomain");
  assert.equal(sow?.size, 1024 ** 3);
  assert.equal(list.byOwner("ada")?.kind, "external");
  assert.equal(list.byOwner("ada")?.size, options.defaultSize);
  assert.equal(list.byOwner("root.admin")?.kind, "managed");
  // The local part is exact: "Souleymane" is another address.
  assert.equal(list.byAddress("Souleymane@sow.semail.email"), undefined);
  assert.deepEqual([...list.domains()].sort(), ["example.org", "semail.email", "sow.semail.email"]);
});

test("each problem names its entry", () => {
  const found = problems(`mailboxes:
  - owner: sow
    address: a@sow.semail.email
  - owner: sow
    address: b@sow.semail.email
  - owner: bob
    address: a@sow.semail.email
  - owner: Bob!
    address: Bob!@x.org
  - owner: tiny
    address: tiny@x.org
    size: 1MiB
  - owner: ../etc
    address: x@x.org
`);
  assert.match(found.join("\n"), /mailboxes\[1\]\.owner "sow" already has a mailbox \(mailboxes\[0\]\)/);
  assert.match(found.join("\n"), /mailboxes\[2\]\.address "a@sow.semail.email" is already taken by mailboxes\[0\]/);
  assert.match(found.join("\n"), /mailboxes\[3\]\.owner "Bob!" is not a valid uid/);
  assert.match(found.join("\n"), /mailboxes\[3\]\.address id "Bob!" is not a valid mailbox id: use a-z, 0-9, '\.', '-'/);
  assert.match(found.join("\n"), /mailboxes\[4\]\.size "1MiB" is below the minimum 64MiB/);
  assert.match(found.join("\n"), /mailboxes\[5\]\.owner "\.\.\/etc" is not a valid uid/);
});

test("not YAML, not a mapping, unknown keys", () => {
  assert.match(problems("mailboxes: [").join(), /not valid YAML/);
  assert.match(problems("- a\n- b\n").join(), /must be a mapping/);
  assert.match(problems("mailboxes:\n  - owner: a\n    address: a@x.org\n    quota: 1G\n").join(), /mailboxes\[0\] has unknown key "quota"/);
});

test("writes atomically and a watcher keeps the last good list on a bad edit", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-users-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "users.yaml");
  const first = parseUsersList("mailboxes:\n  - {owner: a, address: a@a.semail.email}\n", options);
  await writeUsersList(path, first.mailboxes);
  assert.deepEqual(await readdir(dir), ["users.yaml"], "no temp file left behind");
  assert.equal(parseUsersList(await readFile(path, "utf8"), options).byOwner("a")?.address, "a@a.semail.email");

  const changes: number[] = [];
  const watch = await watchUsersList(path, options, silentLogger(), (l) => changes.push(l.mailboxes.length));
  t.after(() => watch.close());
  await writeFile(path, "mailboxes: [ {owner: b, address: 'bad address'} ]\n");
  await watch.reload();
  assert.equal(watch.current().mailboxes.length, 1, "an invalid file keeps the last good list");
  await writeFile(path, "mailboxes:\n  - {owner: a, address: a@a.semail.email}\n  - {owner: b, address: b@x.org}\n");
  await watch.reload();
  assert.equal(watch.current().byOwner("b")?.address, "b@x.org");
  assert.deepEqual(changes, [2]);
});
