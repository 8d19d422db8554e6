// Local mode's webmail in bench/scale (services/webmail/identity-sync.ts): after a change to
// the users list, reload() points the Roundcube identities at the mailboxes' addresses in
// Roundcube's own database. Here that database is made from Roundcube's schema with n users
// who have logged in once (one identity each, at their address), and the identities'
// sync is timed for one added mailbox at a time (reload's other part, the address file,
// is one whole-file write like the daemons' users file).
import { access, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseUsersList, type UsersList } from "../../config/users-list.ts";
import { createIdentitySync } from "../../services/webmail/identity-sync.ts";
import { BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

const SCHEMA = "/usr/share/roundcube/SQL/sqlite.initial.sql";

/** Why the webmail part cannot run here, or undefined when it can. */
export async function webmailUnavailable(): Promise<string | undefined> {
  return access(SCHEMA).then(
    () => undefined,
    () => "Roundcube's schema is not installed (apt-get install roundcube-sqlite3)",
  );
}

const list = (count: number): UsersList => parseUsersList(syntheticUsersYaml(count), BENCH_LIST_OPTIONS);

/** Milliseconds of each identities' sync after one added mailbox. */
export async function measureIdentitySync(dir: string, count: number, adds: number): Promise<number[]> {
  const runDir = join(dir, `webmail-${count}`);
  await mkdir(runDir, { recursive: true });
  const database = join(runDir, "roundcube.sqlite");
  const first = list(count);
  const db = new DatabaseSync(database);
  try {
    db.exec(await readFile(SCHEMA, "utf8"));
    db.exec("BEGIN");
    const user = db.prepare("INSERT INTO users (user_id, username, mail_host) VALUES (?, ?, 'semail-imap')");
    const identity = db.prepare("INSERT INTO identities (user_id, email, standard) VALUES (?, ?, 1)");
    first.mailboxes.forEach((m, i) => {
      user.run(i + 1, m.owner);
      identity.run(i + 1, m.address);
    });
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  // The start's sync (every mailbox) is not timed.
  const syncIdentities = createIdentitySync(database);
  await syncIdentities(first);
  const times: number[] = [];
  for (let i = 1; i <= adds; i++) {
    const next = list(count + i);
    const started = performance.now();
    await syncIdentities(next);
    times.push(performance.now() - started);
  }
  return times;
}
