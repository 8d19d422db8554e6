// Bytes used by each mailbox, for the quota. Walking a mailbox is not free and RCPT asks
// for it every time, so results are cached for a while and adjusted by our own appends;
// what users delete with their readers shows up when the entry expires. The owner's home
// (<root>/home, their container's ~) is not walked: it may hold any number of files, and
// it counts against the mailbox's size through its own filesystem (room.ts) instead.
import { promises as fs } from "node:fs";
import path from "node:path";
import { provisioningState } from "../../../../config/mailbox-layout.ts";
import { USER_HOME_NAME } from "../../../../config/stack/user-container.ts";

/** How long a walked total is trusted. */
export const USAGE_TTL_MS = 30_000;
/** Entries visited per walk at most (a hostile tree cannot make RCPT hang). */
const MAX_ENTRIES = 100_000;

interface Entry {
  bytes: number;
  at: number;
  walking?: Promise<number>;
}

export class UsageCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;

  constructor(ttlMs = USAGE_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  /** Bytes of regular files under `root` (symlinks not followed). */
  async get(key: string, root: string): Promise<number> {
    const entry = this.#entries.get(key);
    if (entry && Date.now() - entry.at < this.#ttlMs) return entry.bytes;
    if (entry?.walking) return entry.walking;
    const walking = walk(root);
    const pending: Entry = { bytes: entry?.bytes ?? 0, at: 0, walking };
    this.#entries.set(key, pending);
    try {
      const bytes = await walking;
      this.#entries.set(key, { bytes, at: Date.now() });
      return bytes;
    } catch (error) {
      this.#entries.delete(key);
      throw error;
    }
  }

  /** Our own append (or rollback, negative) changed the total. */
  add(key: string, bytes: number): void {
    const entry = this.#entries.get(key);
    if (entry && !entry.walking) entry.bytes += bytes;
    // A walk in progress may miss this append: let the next call walk again.
    else if (entry) this.#entries.delete(key);
  }
}

/**
 * What each owner's mailbox under `mailRoot` holds, as the store counts it, for those who read
 * it from outside the daemon (the report, the web form): undefined when the root is not
 * provisioned here (not mounted, another host's); a failed walk rejects.
 */
export function mailRootUsage(mailRoot: string): (owner: string) => Promise<number | undefined> {
  const cache = new UsageCache();
  return async (owner) => {
    const root = path.join(mailRoot, owner);
    return provisioningState(root) === "ready" ? cache.get(owner, root) : undefined;
  };
}

async function walk(root: string): Promise<number> {
  let total = 0;
  let visited = 0;
  const stack = [root];
  while (stack.length > 0 && visited < MAX_ENTRIES) {
    const directory = stack.pop()!;
    let names: string[];
    try {
      names = await fs.readdir(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR")
        continue;
      throw error;
    }
    for (const name of names) {
      if (directory === root && name === USER_HOME_NAME) continue;
      if (++visited > MAX_ENTRIES) break;
      const full = path.join(directory, name);
      const stat = await fs.lstat(full).catch(() => undefined);
      if (!stat) continue;
      if (stat.isDirectory()) stack.push(full);
      else if (stat.isFile()) total += stat.size;
    }
  }
  return total;
}
