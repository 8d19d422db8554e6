// A short memory of successful logins in front of the directory, so a client that connects
// once per message (a webmail does) is not a new LDAP connection, bind and search each
// time. It wraps the Directory that SMTP AUTH asks (mailservers/core/authenticate.ts), so
// the TLS rule and the guessing limits still come first, for every login. Why it is safe:
// - only successes are kept: a wrong password always goes to the directory, and a locked
//   account is refused before this is asked, so guessing learns nothing from it;
// - it holds no password: entries are keyed by an HMAC of (uid, password) under a key made
//   at start and kept only in memory;
// - it forgets after `ttlMs` (a minute): a password changed or an account locked in the
//   directory stops working for SMTP within it. A mailbox taken off the users list stops
//   at once, since every MAIL FROM is checked against the current list.
import { createHmac, randomBytes } from "node:crypto";
import type { AuthOutcome, Directory, DirectoryUser } from "../../config/directory.ts";

export interface LoginCacheOptions {
  /** How long a login is remembered; 0 turns the cache off. */
  readonly ttlMs: number;
  /** Most logins remembered; the oldest goes first. */
  readonly maxEntries: number;
  readonly now: () => number;
}

/** `directory` with successful logins remembered for `ttlMs`. */
export function rememberLogins(directory: Directory, options: LoginCacheOptions): Directory {
  if (options.ttlMs <= 0) return directory;
  const key = randomBytes(32);
  /** The user and expiry per key, oldest first. */
  const entries = new Map<string, { readonly user: DirectoryUser; readonly expires: number }>();
  // The length first, so no (uid, password) pair reads as another.
  const keyOf = (uid: string, password: string) =>
    createHmac("sha256", key).update(`${uid.length}:${uid}`).update(password).digest("base64");

  return {
    async authenticate(uid: string, password: string): Promise<AuthOutcome> {
      const k = keyOf(uid, password);
      const entry = entries.get(k);
      if (entry !== undefined && entry.expires > options.now()) return { ok: true, user: entry.user };
      entries.delete(k);
      const outcome = await directory.authenticate(uid, password);
      if (!outcome.ok) return outcome;
      entries.set(k, { user: outcome.user, expires: options.now() + options.ttlMs });
      for (const oldest of entries.keys()) {
        if (entries.size <= options.maxEntries) break;
        entries.delete(oldest);
      }
      return outcome;
    },
    isAdmin: (uid) => directory.isAdmin(uid),
    close: () => directory.close(),
  };
}
