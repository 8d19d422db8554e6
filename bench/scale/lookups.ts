// The users list's own costs in bench/scale: parsing the whole list (what every reload
// does), serialising it (each write), its entries as JSON (each comparison of two lists),
// and the per-message lookups the daemons make in it (inbound's resolveRecipient at each
// RCPT TO: the domain, then the address).
import { parseUsersList, serializeUsersList } from "../../config/users-list.ts";
import { SmtpError } from "../../mailservers/core/index.ts";
import { resolveRecipient } from "../../mailservers/inbound/recipients.ts";
import { median } from "../lib/median.ts";
import { BENCH_DOMAIN, BENCH_LIST_OPTIONS, syntheticMailbox, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface ListSample {
  /** parseUsersList: YAML parse and validation of the whole list. */
  readonly parseMs: number;
  /** serializeUsersList: what the form writes. */
  readonly serializeMs: number;
  /** JSON.stringify of the entries: what the daemons' watcher and `semail start` compare to tell a real change. */
  readonly jsonMs: number;
  /** One resolveRecipient call, averaged over many. */
  readonly lookupUs: number;
}

const LOOKUPS = 200_000;

function timed(work: () => void): number {
  const started = performance.now();
  work();
  return performance.now() - started;
}

export function measureList(count: number, runs: number): ListSample {
  const text = syntheticUsersYaml(count);
  const list = parseUsersList(text, BENCH_LIST_OPTIONS);
  const parseMs = median(Array.from({ length: runs }, () => timed(() => parseUsersList(text, BENCH_LIST_OPTIONS))));
  const serializeMs = median(Array.from({ length: runs }, () => timed(() => serializeUsersList(list.entries))));
  const jsonMs = median(Array.from({ length: runs }, () => timed(() => JSON.stringify(list.entries))));
  const addresses = Array.from({ length: Math.min(count, 1000) }, (_, i) =>
    String(syntheticMailbox(Math.floor((i * count) / Math.min(count, 1000))).address),
  );
  const context = { users: list, managedDomain: BENCH_DOMAIN, admin: { owner: "postmaster", quota: 1 } };
  let found = 0;
  const lookupMs = median(
    Array.from({ length: runs }, () =>
      timed(() => {
        for (let i = 0; i < LOOKUPS; i++)
          if (!(resolveRecipient(addresses[i % addresses.length]!, context) instanceof SmtpError)) found++;
      }),
    ),
  );
  if (found !== LOOKUPS * runs)
    throw new Error(`bench/scale: ${LOOKUPS * runs - found} listed addresses were not found`);
  return { parseMs, serializeMs, jsonMs, lookupUs: (lookupMs * 1000) / LOOKUPS };
}
