// The image's identity script (services/webmail/identities.ts) run by the real PHP against
// a database made from Roundcube's own schema: an identity follows its owner's address in
// the address file, the others stay, and a webmail without a database (or its tables) yet is
// left alone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { promisify } from "node:util";
import { renderIdentitiesScript } from "../../../services/webmail/identities.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const SCHEMA = "/usr/share/roundcube/SQL/sqlite.initial.sql";
const run = promisify(execFile);

test("the image's identity script points each identity at the address file's address", async (t) => {
  const dir = await tempDir(t, "semail-identities-");
  const addresses = path.join(dir, "addresses");
  const database = path.join(dir, "roundcube.sqlite");
  const script = path.join(dir, "identities.php");
  await writeFile(script, renderIdentitiesScript(addresses, database));
  await writeFile(addresses, "# Written by SEMail\nalice@new.semail.test alice\nbob@bob.semail.test bob\n");
  const php = () => run("php", [script], { timeout: 20_000 }).then((r) => r.stdout);

  assert.equal(await php(), "", "no database yet: nothing to do");
  new DatabaseSync(database).close();
  assert.equal(await php(), "", "no tables yet: nothing to do");

  const db = new DatabaseSync(database);
  t.after(() => db.close());
  db.exec(await readFile(SCHEMA, "utf8"));
  db.exec(`INSERT INTO users (user_id, username, mail_host) VALUES (1, 'alice', 'semail-imap'), (2, 'bob', 'semail-imap'), (3, 'carol', 'semail-imap');
    INSERT INTO identities (user_id, email, standard) VALUES (1, 'alice@old.semail.test', 1), (2, 'bob@bob.semail.test', 1), (3, 'carol@carol.semail.test', 1);`);
  assert.equal(await php(), "semail-webmail: identity of alice is now alice@new.semail.test\n");
  const emails = db
    .prepare("SELECT u.username AS owner, i.email FROM identities i JOIN users u USING (user_id) ORDER BY owner")
    .all();
  assert.deepEqual(
    emails.map((r) => `${String(r.owner)} ${String(r.email)}`),
    ["alice alice@new.semail.test", "bob bob@bob.semail.test", "carol carol@carol.semail.test"],
  );
  assert.equal(await php(), "", "run again: nothing left to change");
});
