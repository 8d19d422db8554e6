// Does an external domain's MX point to us? Asked when its owner views the mailbox;
// never blocks anything, and a DNS that does not answer is "unknown", not an error.
import { Resolver } from "node:dns/promises";

export type MxCheck =
  | { readonly state: "ours"; readonly hosts: readonly string[] }
  | { readonly state: "elsewhere"; readonly hosts: readonly string[] }
  | { readonly state: "none" }
  | { readonly state: "unknown"; readonly detail: string };

export interface MxCheckerOptions {
  /** Our MX host, e.g. "mx.semail.email". */
  readonly mxHost: string;
  /** "IP" or "IP:PORT" servers; the system's when empty. */
  readonly servers?: readonly string[];
  readonly timeoutMs?: number;
  /** How long an answer is reused, so reloading the page does not flood the resolver. */
  readonly cacheMs?: number;
  /** How long "could not be checked" is reused: shorter, as a DNS that did not answer may well answer now. */
  readonly unknownCacheMs?: number;
  readonly clock?: () => number;
}

/** `fresh` asks the DNS again whatever was cached (after a "Check now", or a claim that went live). */
export type MxChecker = (domain: string, options?: { readonly fresh?: boolean }) => Promise<MxCheck>;

const NO_RECORD = new Set(["ENODATA", "ENOTFOUND", "NXDOMAIN"]);

export function createMxChecker(options: MxCheckerOptions): MxChecker {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const ours = normalise(options.mxHost);
  const clock = options.clock ?? Date.now;
  const cacheMs = options.cacheMs ?? 30_000;
  const unknownCacheMs = Math.min(cacheMs, options.unknownCacheMs ?? 5_000);
  const cache = new Map<string, { at: number; check: MxCheck }>();

  return async (domain, ask = {}): Promise<MxCheck> => {
    const cached = cache.get(domain);
    if (cached && !ask.fresh && clock() - cached.at < (cached.check.state === "unknown" ? unknownCacheMs : cacheMs))
      return cached.check;
    let check: MxCheck;
    try {
      const records = await resolver.resolveMx(domain);
      const hosts = records.sort((a, b) => a.priority - b.priority).map((r) => normalise(r.exchange));
      if (hosts.length === 0) check = { state: "none" };
      else check = hosts.includes(ours) ? { state: "ours", hosts } : { state: "elsewhere", hosts };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      check = NO_RECORD.has(code) ? { state: "none" } : { state: "unknown", detail: code || (err as Error).message };
    }
    cache.set(domain, { at: clock(), check });
    if (cache.size > 1000) cache.delete(cache.keys().next().value!);
    return check;
  };
}

function normalise(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

/** The exact record the owner of `domain` adds to their zone. */
export function mxRecord(domain: string, mxHost: string): string {
  return `${domain}. IN MX 10 ${normalise(mxHost)}.`;
}
