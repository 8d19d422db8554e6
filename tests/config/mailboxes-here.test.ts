// The one filter of what a SEMail host holds: the entries naming it as `host:` (main for none),
// a mailbox moving away included, a pending one too; the list itself when it is all here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseUsersList } from "../../config/users-list.ts";
import { livesHere, mailboxesHere } from "../../config/mailboxes-here.ts";

const users = parseUsersList(
  [
    "mailboxes:",
    "  - {owner: alice, address: alice@alice.semail.test}",
    "  - {owner: bob, address: bob@bob.semail.test, host: b}",
    "  - {owner: carol, address: carol@carol.semail.test, moving: b}",
    "  - {owner: dave, address: dave@example.org, host: b, pendingProof: 5d41402abc4b2a76}",
    "",
  ].join("\n"),
  { managedDomain: "semail.test", defaultSize: 1024 ** 3, minSize: 64 * 1024 ** 2, subaddressSeparator: "-" },
);

test("each host holds the entries that name it, moving ones on their source", () => {
  const main = mailboxesHere(users, "main");
  assert.deepEqual(
    main.mailboxes.map((m) => m.owner),
    ["alice", "carol"],
  );
  const b = mailboxesHere(users, "b");
  assert.deepEqual(
    b.mailboxes.map((m) => m.owner),
    ["bob"],
  );
  assert.deepEqual(
    b.pending.map((m) => m.owner),
    ["dave"],
  );
  assert.equal(b.subaddressSeparator, "-", "the list's sub-addressing is kept");
  assert.equal(b.byAddress("alice@alice.semail.test"), undefined);
  assert.equal(livesHere({ host: "main" }, "main"), true);
  assert.equal(livesHere({ host: "b" }, "main"), false);
});

test("a list all on this host is answered as it is", () => {
  const single = parseUsersList("mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n", {
    managedDomain: "semail.test",
    defaultSize: 1024 ** 3,
    minSize: 64 * 1024 ** 2,
  });
  assert.equal(mailboxesHere(single, "main"), single);
  assert.equal(mailboxesHere(single, "b").mailboxes.length, 0);
});
