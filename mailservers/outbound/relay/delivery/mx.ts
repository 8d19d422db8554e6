// Where mail for a domain goes (RFC 5321 section 5.1, RFC 7505): MX hosts by preference,
// the implicit MX when there is none, and the verdict when the answer is final.
// The resolver can be pointed at any DNS server, so tests use a local named.
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { classify, type Verdict } from "./classify.ts";

export interface MxAddress {
  address: string;
  family: 4 | 6;
}

export interface MxHost {
  /** Host name of the exchange, lower case, no trailing dot (the domain itself for an implicit MX). */
  name: string;
  preference: number;
  /** AAAA then A addresses; empty when the name has none. */
  addresses: MxAddress[];
}

export interface MxRoute {
  /** Sorted by preference, equal preferences shuffled. */
  hosts: MxHost[];
  /** True when the domain has no MX and its own A/AAAA records are used (RFC 5321 5.1). */
  implicit: boolean;
}

export interface MxResolver {
  /** Throws RouteError when the domain cannot be routed now (defer) or ever (bounce). */
  resolve(domain: string): Promise<MxRoute>;
}

/** A routing failure with its verdict: retry later, or return to the sender. */
export class RouteError extends Error {
  readonly verdict: Verdict;
  readonly kind: "dns-temp" | "dns-perm" | "null-mx" | "loop";
  constructor(kind: RouteError["kind"], message: string) {
    super(message);
    this.name = "RouteError";
    this.kind = kind;
    this.verdict = classify({ kind });
  }
}

export interface MxResolverOptions {
  /** DNS server as "IP", "IP:PORT" or "[IPv6]:PORT"; the system's servers when absent. */
  server?: string;
  /** Per-query timeout in ms (each query is tried twice). */
  timeoutMs?: number;
  /** Source of randomness for shuffling equal preferences (tests may fix it). */
  random?: () => number;
}

// c-ares error codes: a name that does not exist, or exists without records of the type.
const NXDOMAIN = "ENOTFOUND";
const NODATA = "ENODATA";

export function createMxResolver(options: MxResolverOptions = {}): MxResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: 2 });
  if (options.server !== undefined) resolver.setServers([options.server]);
  const random = options.random ?? Math.random;

  /** Records of one type; [] when the name has none; NXDOMAIN is reported as "nxdomain". */
  async function lookup<T>(query: () => Promise<T[]>): Promise<T[] | "nxdomain"> {
    try {
      return await query();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === NXDOMAIN) return "nxdomain";
      if (code === NODATA) return [];
      throw new RouteError("dns-temp", `DNS lookup failed temporarily: ${code ?? (err as Error).message}`);
    }
  }

  async function addressesOf(name: string): Promise<MxAddress[] | "nxdomain"> {
    const [six, four] = await Promise.all([
      lookup(() => resolver.resolve6(name)),
      lookup(() => resolver.resolve4(name)),
    ]);
    if (six === "nxdomain" && four === "nxdomain") return "nxdomain";
    return [
      ...(six === "nxdomain" ? [] : six.map((address) => ({ address, family: 6 as const }))),
      ...(four === "nxdomain" ? [] : four.map((address) => ({ address, family: 4 as const }))),
    ];
  }

  return {
    async resolve(input: string): Promise<MxRoute> {
      const domain = normalizeDomain(input);
      const literal = addressLiteral(domain);
      if (literal) return { hosts: [{ name: domain, preference: 0, addresses: [literal] }], implicit: true };

      const records = await lookup(() => resolver.resolveMx(domain));
      if (records === "nxdomain") throw new RouteError("dns-perm", `domain ${domain} does not exist (NXDOMAIN)`);

      if (records.length === 0) {
        // No MX: the domain itself is the implicit MX with preference 0.
        const addresses = await addressesOf(domain);
        if (addresses === "nxdomain") throw new RouteError("dns-perm", `domain ${domain} does not exist (NXDOMAIN)`);
        if (addresses.length === 0) throw new RouteError("dns-perm", `domain ${domain} has no MX, A or AAAA record`);
        return { hosts: [{ name: domain, preference: 0, addresses }], implicit: true };
      }

      // RFC 7505: "MX 0 ." says the domain takes no mail. Mixed with real MX records it is
      // a misconfiguration; the real ones are used.
      const real = records.filter((r) => r.exchange !== "" && r.exchange !== ".");
      if (real.length === 0) throw new RouteError("null-mx", `domain ${domain} accepts no mail (null MX, RFC 7505)`);

      const ordered = sortByPreference(real, random);
      const hosts = await Promise.all(
        ordered.map(async (r): Promise<MxHost> => {
          const name = r.exchange.toLowerCase().replace(/\.$/, "");
          const ip = isIP(name);
          // An IP address as exchange is invalid but common; use it rather than fail.
          if (ip) return { name, preference: r.priority, addresses: [{ address: name, family: ip === 6 ? 6 : 4 }] };
          let addresses: MxAddress[] | "nxdomain";
          try {
            addresses = await addressesOf(name);
          } catch {
            // One broken MX host must not stop delivery to the others.
            addresses = [];
          }
          return { name, preference: r.priority, addresses: addresses === "nxdomain" ? [] : addresses };
        }),
      );
      // MX records exist: never fall back to the domain's A record (the caller defers).
      return { hosts, implicit: false };
    },
  };
}

/** Lower case ASCII (IDNA) form without a trailing dot; bounces on a malformed name. */
export function normalizeDomain(input: string): string {
  const trimmed = input.trim().replace(/\.$/, "");
  if (/^\[.*\]$/.test(trimmed)) return trimmed.toLowerCase();
  const ascii = domainToASCII(trimmed);
  if (
    !ascii ||
    ascii.length > 253 ||
    !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(ascii)
  ) {
    throw new RouteError("dns-perm", `${JSON.stringify(input)} is not a valid domain name`);
  }
  return ascii;
}

/** "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3) as an address. */
function addressLiteral(domain: string): MxAddress | undefined {
  const inner = domain.match(/^\[(?:ipv6:)?(.*)\]$/)?.[1];
  if (inner === undefined) return undefined;
  const family = isIP(inner);
  if (family === 0) throw new RouteError("dns-perm", `${domain} is not a valid address literal`);
  return { address: inner, family: family === 6 ? 6 : 4 };
}

/** Ascending preference; records of equal preference in random order (RFC 5321 5.1). */
export function sortByPreference<T extends { priority: number }>(
  records: readonly T[],
  random: () => number = Math.random,
): T[] {
  const keyed = records.map((record) => ({ record, key: random() }));
  keyed.sort((a, b) => a.record.priority - b.record.priority || a.key - b.key);
  return keyed.map((k) => k.record);
}
