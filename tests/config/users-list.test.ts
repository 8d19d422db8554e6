import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { silentLogger } from "../../lib/logger.ts";
import { watchUsersList, writeUsersList } from "../../config/users-file.ts";
import { parseUsersList, serializeUsersList, UsersListError } from "../../config/users-list.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const run = promisify(execFile);
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
  // ASCII case folds in the local part too, as Postfix and Dovecot match; nothing else folds.
  assert.equal(list.byAddress("Souleymane@sow.semail.email")?.owner, "sow");
  assert.equal(
    list.byAddress("\u212adm\u0131n@semail.email"),
    undefined,
    "Kelvin sign and dotless i are not ASCII letters",
  );
  assert.equal(list.byAddress("ADMIN@semail.email.")?.owner, "root.admin");
  assert.deepEqual([...list.domains()].sort(), ["example.org", "semail.email", "sow.semail.email"]);
  assert.equal(list.hasDomain("Example.ORG"), true, "a domain is found in any case");
  assert.equal(list.hasDomain("other.semail.email"), false);
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
  assert.match(
    found.join("\n"),
    /mailboxes\[3\]\.address id "Bob!" is not a valid mailbox id: use a-z, 0-9, '\.', '-'/,
  );
  assert.match(found.join("\n"), /mailboxes\[4\]\.size "1MiB" is below the minimum 64MiB/);
  assert.match(found.join("\n"), /mailboxes\[5\]\.owner "\.\.\/etc" is not a valid uid/);
});

test("not YAML, not a mapping, unknown keys", () => {
  assert.match(problems("mailboxes: [").join(), /not valid YAML/);
  assert.match(problems("- a\n- b\n").join(), /must be a mapping/);
  assert.match(
    problems("mailboxes:\n  - owner: a\n    address: a@x.org\n    quota: 1G\n").join(),
    /mailboxes\[0\] has unknown key "quota"/,
  );
});

test("writes atomically and a watcher keeps the last good list on a bad edit", async (t) => {
  const dir = await tempDir(t, "semail-users-");
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

test("a watcher reports a change of entries, not a rewrite of the same entries in another layout", async (t) => {
  const dir = await tempDir(t, "semail-users-");
  const path = join(dir, "users.yaml");
  await writeFile(path, "mailboxes:\n  - {owner: a, address: a@a.semail.email, size: 1GiB}\n");
  const changes: string[][] = [];
  const watch = await watchUsersList(path, options, silentLogger(), (l) =>
    changes.push(l.mailboxes.map((m) => m.owner)),
  );
  t.after(() => watch.close());
  const before = watch.current();
  await writeFile(
    path,
    "# the same mailbox, written by hand\nmailboxes:\n  - owner: a\n    address: A@a.semail.email\n    size: 1024MiB\n",
  );
  await watch.reload();
  assert.deepEqual(changes, [], "the same entries: no change reported");
  assert.equal(watch.current(), before, "and the list in use stays");
  await watch.reload();
  await writeFile(path, "mailboxes:\n  - {owner: a, address: a@a.semail.email, size: 2GiB}\n");
  await watch.reload();
  assert.deepEqual(changes, [["a"]], "a new size is a change");
  assert.equal(watch.current().byOwner("a")?.size, 2 * 1024 ** 3);
  await writeFile(
    path,
    "mailboxes:\n  - {owner: a, address: a@a.semail.email, size: 2GiB}\n  - {owner: b, address: b@b.semail.email}\n",
  );
  await watch.reload();
  await watch.reload();
  assert.deepEqual(changes, [["a"], ["a", "b"]], "one added mailbox, reported once however often the file is read");
});

test("a mailbox id may be written in any ASCII case; two that differ only in case are one address", () => {
  const list = parseUsersList(`mailboxes:\n  - owner: kim\n    address: Kim.Lee@semail.email\n`, options);
  assert.equal(list.byOwner("kim")?.address, "kim.lee@semail.email");
  const found = problems(`mailboxes:
  - owner: kim
    address: kim@semail.email
  - owner: other
    address: KIM@semail.email
`);
  assert.equal(found.length, 1);
  assert.match(
    found[0]!,
    /mailboxes\[1\]\.address "kim@semail\.email" is already taken by mailboxes\[0\] \(addresses differing only in case are the same mailbox\)/,
  );
});

test("reserved role names cannot be mailbox ids, in any case", async () => {
  const { RESERVED_LOCAL_PARTS } = await import("../../config/reserved-names.ts");
  for (const name of RESERVED_LOCAL_PARTS.keys()) {
    const found = problems(`mailboxes:\n  - owner: sow\n    address: ${name.toUpperCase()}@sow.semail.email\n`);
    assert.match(
      found[0]!,
      new RegExp(`mailboxes\\[0\\]\\.address id "${name.toUpperCase()}" is a reserved role name`),
      name,
    );
  }
});

test("a pending claim is kept in the file but is not a live mailbox", () => {
  const text = `mailboxes:
  - owner: sow
    address: souleymane@sow.semail.email
  - owner: carol
    address: carol@carol.example
    pendingProof: 0123456789abcdef0123456789abcdef
`;
  const list = parseUsersList(text, options);
  assert.deepEqual(
    list.mailboxes.map((m) => m.owner),
    ["sow"],
  );
  assert.deepEqual(
    list.pending.map((m) => m.owner),
    ["carol"],
  );
  assert.equal(list.byAddress("carol@carol.example"), undefined);
  assert.equal(list.pendingByAddress("Carol@Carol.example")?.owner, "carol");
  assert.equal(list.byOwner("carol")?.pendingProof, "0123456789abcdef0123456789abcdef");
  assert.equal(list.hasDomain("carol.example"), false);
  assert.deepEqual([...list.domains()], ["sow.semail.email"]);
  // Written back whole: a rewrite by the form never drops a claim.
  assert.equal(serializeUsersList(list.entries), text);
});

test("a pending claim needs a well-formed token and an external domain", () => {
  const found = problems(`mailboxes:
  - owner: a
    address: a@a.example
    pendingProof: "short"
  - owner: b
    address: b@b.semail.email
    pendingProof: 0123456789abcdef0123456789abcdef
  - owner: c
    address: c@c.example
    pendingProof: 0123456789abcdef0123456789abcdef
  - owner: d
    address: c@c.example
`);
  assert.deepEqual(
    found.map((p) => p.split(" ")[0]),
    ["mailboxes[0].pendingProof", "mailboxes[1].pendingProof", "mailboxes[3].address"],
  );
  assert.match(found[1]!, /only for external domains: b\.semail\.email is ours/);
});

test("a key on two owners' mailboxes is refused, naming both: the jump host would lock one of them out", async (t) => {
  const dir = await tempDir(t, "semail-users-");
  const keyOf = async (name: string) => {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@laptop`, "-f", join(dir, name)]);
    const line = (await readFile(join(dir, `${name}.pub`), "utf8")).trim();
    const { stdout } = await run("ssh-keygen", ["-lf", join(dir, `${name}.pub`)]);
    return { line, fingerprint: stdout.split(" ")[1]! };
  };
  const alice = await keyOf("alice");
  const bob = await keyOf("bob");
  // bob's public key, pasted by alice (with a comment of her own) and by carol, whose claim is pending.
  const bobsAsAlices = bob.line.replace("bob@laptop", "mine");
  const found = problems(`mailboxes:
  - owner: alice
    address: alice@alice.semail.email
    sshKeys: ["${alice.line}", "${bobsAsAlices}"]
  - owner: bob
    address: bob@bob.semail.email
    sshKeys: ["${bob.line}"]
  - owner: carol
    address: carol@carol.example
    pendingProof: 0123456789abcdef0123456789abcdef
    sshKeys: ["${bob.line}"]
`);
  assert.deepEqual(found, [
    `mailboxes[1].sshKeys[0] (owner "bob") is the key ${bob.fingerprint} of mailboxes[0].sshKeys[1] (owner "alice"): a key may belong to one owner only; remove it from one of the two`,
    `mailboxes[2].sshKeys[0] (owner "carol") is the key ${bob.fingerprint} of mailboxes[0].sshKeys[1] (owner "alice"): a key may belong to one owner only; remove it from one of the two`,
  ]);

  // Each key with its one owner is fine, and so is one owner listing a key twice (one container either way).
  const list = parseUsersList(
    `mailboxes:
  - {owner: alice, address: alice@alice.semail.email, sshKeys: ["${alice.line}", "${alice.line.replace("alice@laptop", "again")}"]}
  - {owner: bob, address: bob@bob.semail.email, sshKeys: ["${bob.line}"]}
`,
    options,
  );
  assert.deepEqual(list.byOwner("bob")?.sshKeys, [bob.line]);
});

test("aliases are ids on the mailbox's own domain; an address is one mailbox's, as address or alias", () => {
  const list = parseUsersList(
    `mailboxes:
  - owner: ada
    address: ada@semail.email
    aliases: [Sales, info]
  - owner: bob
    address: bob@semail.email
`,
    options,
  );
  const ada = list.byOwner("ada")!;
  assert.deepEqual(ada.aliases, ["sales@semail.email", "info@semail.email"]);
  assert.deepEqual(list.byDeliveryAddress("SALES@semail.email"), { mailbox: ada, address: "sales@semail.email" });
  assert.deepEqual(list.byDeliveryAddress("info+x@semail.email"), {
    mailbox: ada,
    address: "info@semail.email",
    tag: "x",
  });
  assert.equal(list.byAddress("sales@semail.email"), undefined, "an alias is not a login");
  assert.match(serializeUsersList(list.entries), /aliases:\n {6}- sales\n {6}- info\n/);
  assert.deepEqual(parseUsersList(serializeUsersList(list.entries), options).entries, list.entries);

  const refused = (entries: string) => problems(`mailboxes:\n${entries}`);
  assert.deepEqual(
    refused(
      "  - {owner: ada, address: ada@semail.email, aliases: [bob]}\n  - {owner: bob, address: bob@semail.email}\n",
    ),
    ['mailboxes[1].address "bob@semail.email" is already taken by mailboxes[0]'],
  );
  assert.deepEqual(
    refused(
      "  - {owner: bob, address: bob@semail.email}\n  - {owner: ada, address: ada@semail.email, aliases: [bob, ada]}\n",
    ),
    [
      "mailboxes[1].aliases: bob@semail.email is already an address of mailboxes[0]",
      "mailboxes[1].aliases: ada@semail.email is already an address of mailboxes[1]",
    ],
  );
  assert.deepEqual(refused("  - {owner: ada, address: ada@semail.email, aliases: [postmaster, 'a b', x, X]}\n"), [
    'mailboxes[0].aliases[0] "postmaster" is a reserved role name (postmaster, abuse, noreply, ...): choose another alias',
    "mailboxes[0].aliases[1] \"a b\" is not a valid alias: use a-z, 0-9, '.', '-' (at most 64, starting and ending with a letter or digit)",
    'mailboxes[0].aliases[3] "X" is listed twice',
  ]);
  assert.deepEqual(refused("  - {owner: ada, address: ada@semail.email, aliases: sales}\n"), [
    "mailboxes[0].aliases must be a list of ids (the part before the @, on the mailbox's own domain)",
  ]);
});
