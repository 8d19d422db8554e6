// Read-modify-write of the users list, one change at a time within this process, each
// change validated as a whole list and written atomically (temp file, fsync, rename).
import { stat } from "node:fs/promises";
import type { Logger } from "pino";
import { loadUsersList, writeUsersList } from "../config/users-file.ts";
import {
  UsersList,
  UsersListError,
  rawEntry,
  validateUsersList,
  type MailboxEntry,
  type UsersListOptions,
} from "../config/users-list.ts";
import { Refusal } from "./refusal.ts";

/** One entry as the users list file has it; size absent for the default. */
export interface RawMailbox {
  readonly owner: string;
  readonly address: string;
  /** Bytes, or a size as written ("5GiB"). */
  readonly size?: number | string;
  readonly sshKeys?: readonly string[];
  /** Alias ids, on the mailbox's own domain. */
  readonly aliases?: readonly string[];
  /** The token of a claim on an external domain not yet proven. */
  readonly pendingProof?: string;
  /** Where the mail goes on to (config/mailbox-forward.ts). */
  readonly forward?: { readonly to: string; readonly keepCopy: boolean };
  /** As written: a date (00:00 UTC) or a date-time with zone (config/mailbox-expiry.ts). */
  readonly expires?: string;
}

export function toRaw(m: MailboxEntry): RawMailbox {
  return rawEntry(m);
}

export class UsersListFile {
  readonly path: string;
  readonly #options: UsersListOptions;
  readonly #logger: Logger;
  /** Tail of the queue of changes: each waits for the one before it. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The last list read or written, and the file it came from: a request parses nothing while the file stays. */
  #cached: { key: string; list: UsersList } | undefined;

  constructor(path: string, options: UsersListOptions, logger: Logger) {
    this.path = path;
    this.#options = options;
    this.#logger = logger;
  }

  /** The list on disk; a missing file is an empty list (the form writes the first one). */
  async read(): Promise<UsersList> {
    let key: string;
    try {
      key = await this.#fileKey();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new UsersList([]);
      throw err;
    }
    // Parsed again only when the file is another one (a rename over it) or was written to.
    if (this.#cached?.key === key) return this.#cached.list;
    const list = await loadUsersList(this.path, this.#options);
    this.#cached = { key, list };
    return list;
  }

  /** Which version of the file is there: another file (rename), or a write to it, changes this. */
  async #fileKey(): Promise<string> {
    const { dev, ino, size, mtimeNs } = await stat(this.path, { bigint: true });
    return `${dev}:${ino}:${size}:${mtimeNs}`;
  }

  /**
   * Runs `change` on the current list and writes what it returns, serialised with every
   * other update. `change` throws a Refusal to leave the list as it is.
   */
  update(change: (list: UsersList) => readonly RawMailbox[]): Promise<UsersList> {
    const run = this.#tail.then(async () => {
      const current = await this.read();
      const entries = change(current);
      let next: UsersList;
      try {
        next = validateUsersList({ mailboxes: entries }, this.#options, "the new users list");
      } catch (err) {
        if (err instanceof UsersListError) throw new Refusal(400, err.problems.join("; "));
        throw err;
      }
      await writeUsersList(this.path, next.entries);
      this.#cached = { key: await this.#fileKey(), list: next };
      this.#logger.info({ users: this.path, mailboxes: next.mailboxes.length }, "users list written");
      return next;
    });
    // A failed change must not block the ones queued after it.
    this.#tail = run.catch(() => undefined);
    return run;
  }
}
