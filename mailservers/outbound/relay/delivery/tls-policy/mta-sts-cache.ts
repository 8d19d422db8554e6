// The MTA-STS policy of a recipient domain as the sender applies it (RFC 8461 3.3, 5.1): the
// `_mta-sts` TXT record is looked up on each delivery; a cached policy whose id it still names
// is used until its max_age runs out, a new id fetches the policy again, and when the record is
// gone, DNS fails or the fetch fails, a cached policy that has not expired stays in force (so an
// attacker who blocks the fetch cannot turn enforcement off). Without one, the domain has no
// policy. A failed fetch of an id is not retried for a while. The cache is a small JSON file
// beside the spool, so it survives restarts.
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { systemClock, type Clock } from "../../../../../lib/clock.ts";
import { writeFileAtomic } from "../../../../../lib/durable-file.ts";
import { createStsNetwork, type StsNetwork, type StsNetworkOptions } from "./mta-sts-fetch.ts";
import { parseStsPolicy, type StsPolicy } from "./mta-sts-policy.ts";
import type { TlsReport } from "./tls-report.ts";

export interface ActivePolicy extends StsPolicy {
  /** The id of the TXT record the policy was fetched under. */
  id: string;
}

interface Entry {
  id: string;
  policy: StsPolicy;
  fetchedAt: number;
  expiresAt: number;
}

export interface MtaStsOptions extends StsNetworkOptions {
  /** JSON file that keeps the cache across restarts; memory only when absent. */
  cacheFile?: string;
  clock?: Clock;
  /** After a failed fetch, the same record id is not fetched again for this long (default 5 minutes). */
  refetchAfterFailureMs?: number;
  /** Where fetch failures of a domain that published a record are counted. */
  report?: TlsReport;
  /** The network side, for tests that count fetches; built from the options above when absent. */
  network?: StsNetwork;
}

export interface MtaSts {
  /** The policy in force for the domain (lower case), or undefined. Never throws. */
  policyFor(domain: string, log: Logger): Promise<ActivePolicy | undefined>;
}

export function createMtaSts(options: MtaStsOptions = {}): MtaSts {
  const network = options.network ?? createStsNetwork(options);
  const clock = options.clock ?? systemClock;
  const entries = new Map<string, Entry>();
  // One lookup per domain at a time: concurrent deliveries share it.
  const inFlight = new Map<string, Promise<ActivePolicy | undefined>>();
  // Failed fetches by domain: a policy host that is down or slow must not cost every delivery a wait.
  const failures = new Map<string, { id: string; until: number }>();
  const refetchAfterFailureMs = options.refetchAfterFailureMs ?? 5 * 60_000;
  let loaded: Promise<void> | undefined;
  let writing: Promise<void> = Promise.resolve();

  async function load(log: Logger): Promise<void> {
    if (options.cacheFile === undefined) return;
    let text: string;
    try {
      text = await readFile(options.cacheFile, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        log.warn({ file: options.cacheFile, err: (err as Error).message }, "MTA-STS cache unreadable; starting empty");
      return;
    }
    let saved: { policies?: Record<string, Entry> };
    try {
      saved = JSON.parse(text) as typeof saved;
    } catch (err) {
      log.warn({ file: options.cacheFile, err: (err as Error).message }, "MTA-STS cache damaged; starting empty");
      return;
    }
    for (const [domain, entry] of Object.entries(saved.policies ?? {})) {
      // A hand-edited or damaged entry is dropped, not trusted.
      try {
        const policy = parseStsPolicy(policyText(entry.policy));
        if (typeof entry.id === "string" && Number.isFinite(entry.expiresAt) && Number.isFinite(entry.fetchedAt))
          entries.set(domain, { id: entry.id, policy, fetchedAt: entry.fetchedAt, expiresAt: entry.expiresAt });
      } catch (err) {
        log.warn({ domain, err: (err as Error).message }, "MTA-STS cache entry dropped");
      }
    }
  }

  /** Writes the live entries; writes follow one another. A failed write costs only a fetch after a restart. */
  function save(log: Logger): Promise<void> {
    const file = options.cacheFile;
    if (file === undefined) return Promise.resolve();
    writing = writing.then(async () => {
      const now = clock.now();
      const policies = Object.fromEntries([...entries].filter(([, e]) => e.expiresAt > now));
      try {
        await writeFileAtomic(file, `${JSON.stringify({ version: 1, policies }, null, 1)}\n`, 0o600);
      } catch (err) {
        log.warn({ file, err: (err as Error).message }, "MTA-STS cache not saved");
      }
    });
    return writing;
  }

  async function lookUp(domain: string, log: Logger): Promise<ActivePolicy | undefined> {
    loaded ??= load(log);
    await loaded;
    const now = clock.now();
    const cached = entries.get(domain);
    const live = cached && cached.expiresAt > now ? cached : undefined;
    const active = (e: Entry | undefined) => (e ? { ...e.policy, id: e.id } : undefined);

    let id: string | undefined;
    try {
      id = await network.recordId(domain);
    } catch (err) {
      log.info({ err: (err as Error).message, cached: live?.id }, "MTA-STS record lookup failed");
      return active(live);
    }
    // No record: a policy cached earlier still holds until it expires (RFC 8461 5.1).
    if (id === undefined) return active(live);
    if (live && live.id === id) return active(live);
    const failure = failures.get(domain);
    if (failure && failure.id === id && failure.until > now) return active(live);

    let policy: StsPolicy;
    try {
      const text = await network.fetchPolicy(domain);
      try {
        policy = parseStsPolicy(text);
      } catch (err) {
        return fetchFailed(domain, "sts-policy-invalid", err as Error);
      }
    } catch (err) {
      return fetchFailed(domain, "sts-policy-fetch-error", err as Error);
    }
    failures.delete(domain);
    const entry: Entry = { id, policy, fetchedAt: now, expiresAt: now + policy.maxAge * 1000 };
    entries.set(domain, entry);
    log.info({ id, mode: policy.mode, mx: policy.mx, maxAge: policy.maxAge }, "MTA-STS policy fetched");
    await save(log);
    return active(entry);

    function fetchFailed(d: string, result: "sts-policy-invalid" | "sts-policy-fetch-error", err: Error) {
      log.warn({ id, err: err.message, cached: live?.id }, "MTA-STS policy could not be had");
      if (id !== undefined) failures.set(d, { id, until: now + refetchAfterFailureMs });
      if (live?.policy.mode === "enforce" || live?.policy.mode === "testing")
        options.report?.record({ domain: d, policy: "sts", mode: live.policy.mode, result });
      return active(live);
    }
  }

  return {
    policyFor(input, log) {
      const domain = input.toLowerCase().replace(/\.$/, "");
      // An address literal has no DNS name to publish a policy under.
      if (domain.startsWith("[")) return Promise.resolve(undefined);
      const running = inFlight.get(domain);
      if (running) return running;
      const lookup = lookUp(domain, log)
        .catch((err: unknown) => {
          log.warn({ err: (err as Error).message }, "MTA-STS lookup failed");
          return undefined;
        })
        .finally(() => inFlight.delete(domain));
      inFlight.set(domain, lookup);
      return lookup;
    },
  };
}

/** A policy back as the text it was parsed from, so a loaded entry goes through the same checks. */
function policyText(policy: StsPolicy): string {
  return [
    "version: STSv1",
    `mode: ${policy.mode}`,
    ...policy.mx.map((m) => `mx: ${m}`),
    `max_age: ${policy.maxAge}`,
    "",
  ].join("\n");
}
