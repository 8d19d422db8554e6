// The daemon's mailing lists, put together: the cache read from the directory every
// inbound.lists.refresh, the table checked against the users list, and the backend's hooks.
import type { Logger } from "pino";
import type { Directory } from "../../../config/directory.ts";
import type { UsersList } from "../../../config/users-list.ts";
import type { MboxStore } from "../store/index.ts";
import { ListCache } from "./list-cache.ts";
import { createListPosts, type ListPosts } from "./list-posts.ts";
import { cachedListTable } from "./list-table.ts";

export interface ListsOptions {
  readonly directory: Directory;
  readonly refreshMs: number;
  readonly users: () => UsersList;
  readonly managedDomain: string;
  readonly store: MboxStore;
  readonly logger: Logger;
}

export interface RunningLists {
  readonly posts: ListPosts;
  /** Reads the directory now (tests; a SIGHUP could). */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLists(options: ListsOptions): Promise<RunningLists> {
  const { directory, logger } = options;
  const load = directory.lists?.bind(directory);
  if (!load) throw new Error("inbound.lists.enabled: this directory cannot list groups");
  const cache = new ListCache({ load, refreshMs: options.refreshMs, logger });
  await cache.start();
  const table = cachedListTable(() => cache.current(), options.users, options.managedDomain, logger);
  return {
    posts: createListPosts({
      table,
      users: options.users,
      managedDomain: options.managedDomain,
      store: options.store,
      logger,
    }),
    refresh: () => cache.refresh(),
    stop: () => cache.stop(),
  };
}
