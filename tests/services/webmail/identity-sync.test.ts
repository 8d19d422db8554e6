// Local mode's identity sync (services/webmail/identity-sync.ts) on a database made from
// Roundcube's own schema: the first sync points every identity at its owner's address; a
// later one applies only the mailboxes added or whose address changed (and, once more, the
// ones the sync before changed), all in one transaction; a new sync (a restart) applies all.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { parseUsersList, type UsersList } from "../../../config/users-list.ts";
import { createIdentitySync } from "../../../services/webmail/identity-sync.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const SCHEMA = "/usr/share/roundcube/SQL/sqlite.initial.sql";

function list(addresses: Record<string, string>): UsersList {
  const yaml = Object.entries(addresses)
    .map(([owner, address]) => `  - {owner: ${owner}, address: ${address}}\n`)
    .join("");
  return parseUsersList(`mailboxes:\n${yaml}`, { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 });
}

test("identities follow the users list: all at the first sync, then only what changed, in one transaction", async (t) => {
  const dir = await tempDir(t, "semail-identity-sync-");
  const database = path.join(dir, "roundcube.sqlite");
  const sync = createIdentitySync(database);
  const start = { alice: "alice@new.semail.test", bob: "bob@bob.semail.test" };
  assert.deepEqual(await sync(list(start)), [], "no database yet: nothing to do");

  const db = new DatabaseSync(database);
  t.after(() => db.close());
  db.exec(await readFile(SCHEMA, "utf8"));
  db.exec(`INSERT INTO users (user_id, username, mail_host) VALUES (1, 'alice', 'semail-imap'), (2, 'bob', 'semail-imap'), (3, 'carol', 'semail-imap');
    INSERT INTO identities (user_id, email, standard) VALUES (1, 'alice@old.semail.test', 1), (2, 'bob@bob.semail.test', 1), (3, 'carol@carol.semail.test', 1);`);
  const emails = () =>
    Object.fromEntries(
      db
        .prepare("SELECT u.username AS owner, i.email FROM identities i JOIN users u USING (user_id)")
        .all()
        .map((r) => [String(r.owner), String(r.email)]),
    );
  /** An identity changed behind the sync's back: only a sync that goes over its owner puts it back. */
  const drift = (owner: string, email: string) =>
    db
      .prepare("UPDATE identities SET email = ? WHERE user_id = (SELECT user_id FROM users WHERE username = ?)")
      .run(email, owner);

  await t.test("the first sync with a database goes over every mailbox", async () => {
    assert.deepEqual(await sync(list(start)), ["alice"]);
    assert.deepEqual(emails(), {
      alice: "alice@new.semail.test",
      bob: "bob@bob.semail.test",
      carol: "carol@carol.semail.test",
    });
  });

  await t.test("a later sync leaves the mailboxes whose address did not change alone", async () => {
    drift("bob", "bob@elsewhere.example");
    assert.deepEqual(await sync(list({ ...start, dave: "dave@dave.semail.test" })), []);
    assert.equal(emails().bob, "bob@elsewhere.example", "bob's address did not change: not touched");
    assert.deepEqual(await sync(list({ ...start, bob: "bob@moved.semail.test", dave: "dave@dave.semail.test" })), [
      "bob",
    ]);
    assert.equal(emails().bob, "bob@moved.semail.test");
  });

  await t.test(
    "the mailboxes one sync changed are applied once more by the next (a first login may have raced it)",
    async () => {
      drift("bob", "bob@raced.example");
      assert.deepEqual(await sync(list({ ...start, bob: "bob@moved.semail.test" })), ["bob"]);
      drift("bob", "bob@raced.example");
      assert.deepEqual(await sync(list({ ...start, bob: "bob@moved.semail.test" })), [], "only once more");
      drift("bob", "bob@moved.semail.test");
    },
  );

  await t.test(
    "one transaction: an update that fails leaves every identity as it was, and the next sync does it again",
    async () => {
      db.exec(
        "CREATE TRIGGER refuse BEFORE UPDATE OF email ON identities WHEN NEW.email = 'bob@refused.semail.test' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
      );
      const refused = list({ alice: "alice@again.semail.test", bob: "bob@refused.semail.test" });
      await assert.rejects(sync(refused), /refused by the test/);
      assert.equal(emails().alice, "alice@new.semail.test", "alice's update, before bob's, was rolled back");
      db.exec("DROP TRIGGER refuse");
      assert.deepEqual(await sync(refused), ["alice", "bob"]);
      assert.deepEqual(emails(), {
        alice: "alice@again.semail.test",
        bob: "bob@refused.semail.test",
        carol: "carol@carol.semail.test",
      });
    },
  );

  await t.test("a new sync (local mode started again) goes over every mailbox", async () => {
    drift("alice", "alice@elsewhere.example");
    assert.deepEqual(await createIdentitySync(database)(list({ alice: "alice@again.semail.test" })), ["alice"]);
    assert.equal(emails().alice, "alice@again.semail.test");
  });
});
