// How often each list member on another server bounced lately: one small JSON file under the
// mail root (a dot name, so no owner can clash), rewritten atomically after each change, one
// change at a time. Bounded: failures older than the window are dropped, at most `threshold`
// times are kept per member, and past MAX_MEMBERS the members that bounced longest ago go first.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../../lib/durable-file.ts";

export const BOUNCE_COUNTS_FILE = ".list-bounces.json";
const MAX_MEMBERS = 10_000;

interface Entry {
  /** When each failure within the window came, oldest first. */
  times: number[];
  /** The remote server's last reply. */
  reply: string;
}

export interface BounceCounts {
  /** Records one failure of `member` on `list`; resolves with the failures within the window, this one included. */
  record(list: string, member: string, reply: string): Promise<number>;
  /** Forgets `member`'s failures on `list` (once reported). */
  clear(list: string, member: string): Promise<void>;
}

export function createBounceCounts(options: {
  readonly file: string;
  readonly threshold: number;
  readonly windowMs: number;
  readonly now: () => number;
}): BounceCounts {
  let queue: Promise<unknown> = Promise.resolve();
  const key = (list: string, member: string) => `${list} ${member}`;
  const load = async (): Promise<Map<string, Entry>> => {
    try {
      return new Map(Object.entries(JSON.parse(await readFile(options.file, "utf8")) as Record<string, Entry>));
    } catch {
      // None yet, or not ours to read (writes are atomic, so never half a file): count afresh.
      return new Map();
    }
  };
  const save = (entries: Map<string, Entry>) =>
    writeFileAtomic(options.file, JSON.stringify(Object.fromEntries(entries)), 0o600);
  /** One change at a time, in order, whatever failed before. */
  const serial = <T>(change: (entries: Map<string, Entry>) => T): Promise<T> => {
    const next = queue.then(async () => {
      const entries = await load();
      const result = change(entries);
      await save(entries);
      return result;
    });
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    record: (list, member, reply) =>
      serial((entries) => {
        const now = options.now();
        const since = now - options.windowMs;
        for (const [k, entry] of entries) {
          entry.times = entry.times.filter((t) => t > since);
          if (entry.times.length === 0) entries.delete(k);
        }
        const k = key(list, member);
        const entry = entries.get(k) ?? { times: [], reply };
        entry.times = [...entry.times, now].slice(-options.threshold);
        entry.reply = reply;
        entries.delete(k);
        entries.set(k, entry);
        // The map keeps insertion order and a change moves an entry last: the first bounced longest ago.
        while (entries.size > MAX_MEMBERS) entries.delete(entries.keys().next().value!);
        return entry.times.length;
      }),
    clear: (list, member) =>
      serial((entries) => {
        entries.delete(key(list, member));
      }),
  };
}
