// Reading, atomically writing and watching the users list file.
import { watch, watchFile, unwatchFile, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import { writeFileAtomic } from "../lib/durable-file.ts";
import {
  UsersListError,
  parseUsersList,
  serializeUsersList,
  type MailboxEntry,
  type UsersList,
  type UsersListOptions,
} from "./users-list.ts";

async function readUsersListText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsersListError(path, [
      `cannot read the users list (setting users): ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
    ]);
  }
}

export async function loadUsersList(path: string, options: UsersListOptions): Promise<UsersList> {
  return parseUsersList(await readUsersListText(path), options, path);
}

export async function writeUsersList(path: string, mailboxes: readonly MailboxEntry[]): Promise<void> {
  await writeFileAtomic(path, serializeUsersList(mailboxes));
}

export interface UsersListWatch {
  /** The last list that validated. */
  current(): UsersList;
  /**
   * Re-reads the file now (also done on change and on SIGHUP by the daemons); or, given the
   * list whoever read it last (local mode's apply), takes that one without reading.
   */
  reload(list?: UsersList): Promise<void>;
  close(): void;
}

/** A list held, not watched: its holder hands each new one to reload (local mode's daemons). */
export function heldUsersList(first: UsersList): UsersListWatch {
  let list = first;
  return {
    current: () => list,
    async reload(next) {
      if (next !== undefined) list = next;
    },
    close: () => undefined,
  };
}

/**
 * Loads the list, then reloads it whenever the file changes. An invalid file keeps the
 * last good list and logs why; a missing or invalid file at start is an error. A text
 * `known` says is applied already (the form's own write) is not parsed again.
 */
export async function watchUsersList(
  path: string,
  options: UsersListOptions,
  logger: Logger,
  onChange?: (list: UsersList) => void,
  known: (text: string) => boolean = () => false,
): Promise<UsersListWatch> {
  let text = await readUsersListText(path);
  let list = parseUsersList(text, options, path);
  // What the entries say, to tell a real change from a rewrite in another layout; cheaper
  // than serialising to YAML, which costs as much as a parse.
  let lastEntries = JSON.stringify(list.entries);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const reload = async (given?: UsersList): Promise<void> => {
    if (closed) return;
    if (given !== undefined) {
      list = given;
      lastEntries = JSON.stringify(given.entries);
      return;
    }
    try {
      // Every change is seen twice (the watch, then the poll): the same text is not parsed again.
      const nextText = await readUsersListText(path);
      if (nextText === text) return;
      if (known(nextText)) {
        text = nextText;
        return;
      }
      const next = parseUsersList(nextText, options, path);
      text = nextText;
      const entries = JSON.stringify(next.entries);
      if (entries === lastEntries) return;
      list = next;
      lastEntries = entries;
      logger.info({ users: path, mailboxes: next.mailboxes.length }, "users list reloaded");
      onChange?.(next);
    } catch (err) {
      logger.error({ users: path, err: (err as Error).message }, "users list not reloaded; keeping the last good list");
    }
  };
  const soon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), 50);
  };

  // The web form replaces the file by rename, so watch the directory, not the inode.
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, name) => {
      if (name === null || name === basename(path)) soon();
    });
    watcher.on("error", () => undefined);
  } catch {
    watcher = undefined;
  }
  // Polling backs up fs.watch, which can miss events on network filesystems.
  watchFile(path, { interval: 2000, persistent: false }, soon);

  return {
    current: () => list,
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      unwatchFile(path);
    },
  };
}
