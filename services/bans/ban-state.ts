// bans.json under bans.stateDir: the ban book that outlives restarts, changed only under
// bans.lock, so the watcher and `semail bans unban` (another process) never lose each
// other's change. The lock holds its holder's pid: a holder that died leaves no lock behind.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/durable-file.ts";
import { processAlive } from "../../lib/process-alive.ts";
import type { BanBook, BanEntry } from "./ban-book.ts";

const LOCK_TRIES = 200;
const LOCK_WAIT_MS = 25;

export const banStatePath = (stateDir: string): string => join(stateDir, "bans.json");

function isEntry(value: unknown): value is BanEntry {
  const e = value as Record<string, unknown> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.address === "string" &&
    typeof e.reason === "string" &&
    [e.since, e.until, e.offences].every((n) => typeof n === "number" && Number.isFinite(n))
  );
}

/** The book in `stateDir` (empty when there is none yet); a damaged file is an error naming it. */
export async function readBanBook(stateDir: string): Promise<Map<string, BanEntry>> {
  const path = banStatePath(stateDir);
  const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (text === undefined) return new Map();
  let entries: unknown;
  try {
    entries = (JSON.parse(text) as { bans?: unknown }).bans;
  } catch {
    throw new Error(`${path} is not JSON: remove it to forget every ban`);
  }
  if (!Array.isArray(entries) || !entries.every(isEntry))
    throw new Error(`${path}: "bans" must be a list of {address, since, until, offences, reason}`);
  return new Map(entries.map((e) => [e.address, e]));
}

async function takeLock(path: string): Promise<void> {
  for (let i = 0; i < LOCK_TRIES; i++) {
    try {
      const file = await open(path, "wx", 0o600);
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
    // A holder between creating the file and writing its pid reads as NaN: wait for it.
    if (Number.isSafeInteger(holder) && holder > 0 && !processAlive(holder)) await rm(path, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, LOCK_WAIT_MS));
  }
  throw new Error(`${path} is held by another process (pid in the file); remove it if that process is gone`);
}

/**
 * Reads the book, lets `change` edit it, and writes it back, under the lock. What `change`
 * returns is returned; the file is written only when `change` says it changed something.
 */
export async function changeBanBook<T>(
  stateDir: string,
  change: (
    book: Map<string, BanEntry>,
  ) => { readonly changed: boolean; readonly value: T } | Promise<{ readonly changed: boolean; readonly value: T }>,
): Promise<T> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const lock = join(stateDir, "bans.lock");
  await takeLock(lock);
  try {
    const book = await readBanBook(stateDir);
    const { changed, value } = await change(book);
    if (changed) await writeBanBook(stateDir, book);
    return value;
  } finally {
    await rm(lock, { force: true });
  }
}

async function writeBanBook(stateDir: string, book: BanBook): Promise<void> {
  const bans = [...book.values()].sort((a, b) => a.address.localeCompare(b.address));
  await writeFileAtomic(banStatePath(stateDir), `${JSON.stringify({ bans }, null, 2)}\n`, 0o600);
}
