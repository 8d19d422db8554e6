// Local mode's side of identities.ts: each user's Roundcube identity follows their mailbox
// address in the users list, in Roundcube's own database (node:sqlite). Roundcube copies
// the address file's entry only at a user's first login, so a mailbox whose address changed
// (or a first login that raced the address file) would keep a From the outbound daemon
// refuses. Only what changed since the last sync is applied, in one transaction.
import { access } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import type { UsersList } from "../../config/users-list.ts";
import { IDENTITY_UPDATE_SQL } from "./identities.ts";

/** Points identities at the addresses of `list`; returns the owners whose identity changed. */
export type IdentitySync = (list: UsersList) => Promise<string[]>;

/**
 * The first sync (at start, before PHP serves) applies every mailbox's address; each later
 * one the mailboxes added or whose address changed since, and again those the sync before it
 * changed (a first login that raced that one made its identity from the address file as it
 * was). Nothing is done, or remembered, before the database exists; a sync that fails
 * leaves the database as it was, and the next one does its part again.
 */
export function createIdentitySync(databaseFile: string): IdentitySync {
  /** Each live owner's address as last applied; undefined before the first sync. */
  let applied: Map<string, string> | undefined;
  let lastChanged = new Set<string>();
  return async (list) => {
    if (
      !(await access(databaseFile).then(
        () => true,
        () => false,
      ))
    )
      return [];
    const due = list.mailboxes.filter((m) => applied?.get(m.owner) !== m.address || lastChanged.has(m.owner));
    const changed: string[] = [];
    if (due.length > 0) {
      const db = new DatabaseSync(databaseFile, { timeout: 5000 });
      try {
        // IMMEDIATE: the write lock up front (waiting for PHP's within the timeout), not an upgrade midway.
        db.exec("BEGIN IMMEDIATE");
        try {
          const update = db.prepare(IDENTITY_UPDATE_SQL);
          for (const m of due) if (Number(update.run(m.address, m.address, m.owner).changes) > 0) changed.push(m.owner);
          db.exec("COMMIT");
        } catch (err) {
          if (db.isTransaction) db.exec("ROLLBACK");
          throw err;
        }
      } finally {
        db.close();
      }
    }
    lastChanged =
      applied === undefined
        ? new Set()
        : new Set(due.filter((m) => applied!.get(m.owner) !== m.address).map((m) => m.owner));
    applied = new Map(list.mailboxes.map((m) => [m.owner, m.address]));
    return changed;
  };
}
