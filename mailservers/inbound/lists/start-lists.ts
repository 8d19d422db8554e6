// The daemon's mailing lists, put together: the cache read from the directory every
// inbound.lists.refresh, the table checked against the users list, the backend's hooks, and,
// with the forward secret, the copies for members on other servers and their bounces.
import path from "node:path";
import type { Logger } from "pino";
import type { Directory } from "../../../config/directory.ts";
import type { UsersList } from "../../../config/users-list.ts";
import { createListBounceAddresses } from "../../core/list-bounce-address.ts";
import type { Forwarder } from "../forward/forwarder.ts";
import { TEMP_DIR, type MboxStore, type StoreTarget } from "../store/index.ts";
import { BOUNCE_COUNTS_FILE, createBounceCounts } from "./bounce-counts.ts";
import { createBounceReceiver } from "./list-bounces.ts";
import { ListCache } from "./list-cache.ts";
import { createListPosts, type ListPosts } from "./list-posts.ts";
import { cachedListTable } from "./list-table.ts";

export interface ListsOptions {
  readonly directory: Directory;
  readonly refreshMs: number;
  readonly users: () => UsersList;
  readonly managedDomain: string;
  /** This host's name (settings.hostName): members whose mailbox is elsewhere get no copy here. */
  readonly hostName?: string;
  readonly store: MboxStore;
  readonly logger: Logger;
  /** Members on other servers (outbound.forwardSecretFile set): absent, they get no copy. */
  readonly remote?: {
    readonly forwarder: Forwarder;
    /** The bounce addresses' key (core/forward-secret.ts). */
    readonly bounceKey: Buffer;
    readonly mailRoot: string;
    /** Our host name: the bounce reports' Message-ID. */
    readonly hostname: string;
    /** inbound.lists.bounceReport and bounceWindow. */
    readonly bounceReport: number;
    readonly bounceWindowMs: number;
    /** Where a bounce report goes when no owner has a mailbox here. */
    readonly admin: () => StoreTarget;
    readonly clock?: () => number;
  };
}

export interface RunningLists {
  readonly posts: ListPosts;
  /** Reads the directory now (tests; a SIGHUP could). */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

function remoteCopies(options: ListsOptions, remote: NonNullable<ListsOptions["remote"]>) {
  const now = remote.clock ?? Date.now;
  const tempDir = path.join(path.resolve(remote.mailRoot), TEMP_DIR);
  return {
    bounces: createListBounceAddresses({ key: remote.bounceKey, now }),
    relay: remote.forwarder.relayListPost.bind(remote.forwarder),
    tempDir,
    receiveBounce: createBounceReceiver({
      counts: createBounceCounts({
        file: path.join(remote.mailRoot, BOUNCE_COUNTS_FILE),
        threshold: remote.bounceReport,
        windowMs: remote.bounceWindowMs,
        now,
      }),
      threshold: remote.bounceReport,
      report: {
        store: options.store,
        users: options.users,
        admin: remote.admin,
        hostname: remote.hostname,
        from: `postmaster@${options.managedDomain}`,
        now,
      },
      users: options.users,
      managedDomain: options.managedDomain,
      tempDir,
      logger: options.logger,
    }),
  };
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
      ...(options.hostName !== undefined ? { hostName: options.hostName } : {}),
      store: options.store,
      ...(options.remote ? { remote: remoteCopies(options, options.remote) } : {}),
      logger,
    }),
    refresh: () => cache.refresh(),
    stop: () => cache.stop(),
  };
}
