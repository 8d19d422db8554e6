// Where mail for one domain goes: the relay host, or the domain's MX hosts in preference order
// without ourselves (RFC 5321 5.1), as the addresses to try; or, when it can go nowhere, the
// failure that answers every recipient.
import { networkInterfaces } from "node:os";
import type { Logger } from "pino";
import type { FailureKind } from "./classify.ts";
import type { Dane, DaneRequirement, TlsaRecord } from "./tls-policy/dane.ts";
import type { ActivePolicy, MtaSts } from "./tls-policy/mta-sts-cache.ts";
import { policyAllows } from "./tls-policy/mta-sts-policy.ts";
import { RouteError, type MxAddress, type MxHost, type MxResolver } from "./mx.ts";
import type { TlsReport } from "./tls-policy/tls-report.ts";

export type IpFamily = "prefer-ipv6" | "ipv4" | "ipv6";

/** opportunistic: STARTTLS when offered; require: defer unless STARTTLS works; verify: require plus a valid certificate for the MX name. */
export type TlsMode = "opportunistic" | "require" | "verify";

export interface RelayHost {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465 style); otherwise STARTTLS. */
  secure?: boolean;
  auth?: { user: string; pass: string };
  /** With auth: check the relay's certificate before sending the password (default true). */
  verifyTls?: boolean;
}

/** One address to try, with how to talk to it. */
export interface Target {
  host: string;
  port: number;
  /** Name for SNI, certificate checks and logs. */
  name: string;
  secure: boolean;
  tls: TlsMode;
  auth?: { user: string; pass: string };
  /** The destination's MTA-STS policy in force (enforce or testing), whose failures are logged and counted. */
  sts?: { mode: "enforce" | "testing"; id: string };
  /** DANE (RFC 7672): the host's usable TLSA records, which its certificate must match (instead of a CA check). */
  dane?: TlsaRecord[];
}

/** Why no address can be tried: the failure every recipient gets. */
export interface RouteFailure {
  kind: FailureKind;
  response: string;
  code: number;
  enhanced: string;
}

export type Route = { targets: Target[] } | { failure: RouteFailure };

export interface RouterOptions {
  resolver: MxResolver;
  /** Our EHLO name, one of our own names. */
  ehloName: string;
  port: number;
  ipFamily: IpFamily;
  maxAddresses: number;
  tlsPolicy?: Readonly<Record<string, TlsMode>>;
  relayHost?: RelayHost;
  localNames?: readonly string[];
  localAddresses?: readonly string[];
  isLocalDomain?: (domain: string) => boolean;
  /** Honours the destinations' MTA-STS policies where no tlsPolicy entry names the domain. */
  mtaSts?: MtaSts;
  tlsReport?: TlsReport;
  /** Honours DANE TLSA records that a validating resolver vouches for, where no tlsPolicy entry names the domain. */
  dane?: Dane;
}

export interface Router {
  route(domain: string, log: Logger): Promise<Route>;
}

export function createRouter(options: RouterOptions): Router {
  const localNames = new Set((options.localNames ?? [options.ehloName]).map((n) => n.toLowerCase().replace(/\.$/, "")));
  const localAddresses = new Set((options.localAddresses ?? ownAddresses()).map(canonicalIp));
  const tlsPolicy = new Map(Object.entries(options.tlsPolicy ?? {}).map(([d, m]) => [d.toLowerCase(), m]));
  const tlsFor = (domain: string): TlsMode => tlsPolicy.get(domain.toLowerCase()) ?? "opportunistic";
  // An operator's tlsPolicy for the domain wins over its published policy.
  const stsFor = (domain: string, log: Logger): Promise<ActivePolicy | undefined> =>
    options.mtaSts && !tlsPolicy.has(domain.toLowerCase())
      ? options.mtaSts.policyFor(domain, log).catch(() => undefined)
      : Promise.resolve(undefined);

  function viaRelayHost(domain: string, r: RelayHost): Route {
    // A password never crosses the network in clear text or to an unverified server;
    // loopback is not the network.
    const guarded = r.auth !== undefined && !isUsualLoopbackSpelling(r.host);
    const tls: TlsMode = guarded ? (r.verifyTls === false ? "require" : "verify") : tlsFor(domain);
    return {
      targets: [
        {
          host: r.host,
          port: r.port,
          name: r.host,
          secure: r.secure ?? false,
          tls,
          ...(r.auth ? { auth: r.auth } : {}),
        },
      ],
    };
  }

  async function viaMx(domain: string, log: Logger): Promise<Route> {
    // The policy is looked up while the MX records are; it never throws.
    const policyLookup = stsFor(domain, log);
    let hosts: MxHost[];
    try {
      const route = await options.resolver.resolve(domain);
      const local = options.isLocalDomain?.(domain.toLowerCase()) ?? false;
      const remaining = local ? route.hosts : withoutSelf(route.hosts, localNames, localAddresses);
      if (remaining === "loop") {
        log.warn("MX points back at us");
        return {
          failure: {
            kind: "loop",
            response: `mail for ${domain} loops back to myself (MX points at this system)`,
            code: 554,
            enhanced: "5.4.6",
          },
        };
      }
      hosts = remaining;
    } catch (err) {
      if (err instanceof RouteError) {
        log.info({ verdict: err.verdict, err: err.message }, "no route");
        const codes =
          err.verdict === "bounce"
            ? { code: 550, enhanced: err.kind === "null-mx" ? "5.1.10" : err.kind === "loop" ? "5.4.6" : "5.1.2" }
            : { code: 451, enhanced: "4.4.3" };
        return { failure: { kind: err.kind, response: err.message, ...codes } };
      }
      return {
        failure: {
          kind: "dns-temp",
          response: `DNS lookup failed: ${(err as Error).message}`,
          code: 451,
          enhanced: "4.4.3",
        },
      };
    }
    let tls = tlsFor(domain);
    const policy = await policyLookup;
    const sts = policy && policy.mode !== "none" ? { mode: policy.mode, id: policy.id } : undefined;
    if (policy && sts) {
      const outside = hosts.filter((h) => !policyAllows(policy, h.name));
      for (const h of outside) {
        log.warn({ mx: h.name, mode: sts.mode, id: sts.id, patterns: policy.mx }, "MX host not in the MTA-STS policy");
        options.tlsReport?.record({ domain, policy: "sts", mode: sts.mode, result: "validation-failure", mx: h.name });
      }
      if (sts.mode === "enforce") {
        // RFC 8461 5: only the policy's MX hosts, only with STARTTLS and a valid certificate for the MX name.
        hosts = hosts.filter((h) => policyAllows(policy, h.name));
        tls = "verify";
        if (hosts.length === 0) {
          return {
            failure: {
              kind: "tls-required",
              response: `the MTA-STS policy of ${domain} (id ${sts.id}, enforce) allows none of its MX hosts (${outside.map((h) => h.name).join(", ")})`,
              code: 451,
              enhanced: "4.7.5",
            },
          };
        }
      }
    }
    const dane: Map<string, DaneRequirement> =
      options.dane && !tlsPolicy.has(domain.toLowerCase())
        ? await options.dane.forHosts(
            domain,
            hosts.map((h) => h.name),
          )
        : new Map();
    const skipped = hosts.filter((h) => dane.get(h.name)?.kind === "skip");
    for (const h of skipped) log.warn({ mx: h.name, dane: dane.get(h.name) }, "DANE: MX host skipped");
    hosts = hosts.filter((h) => dane.get(h.name)?.kind !== "skip");
    if (hosts.length === 0 && skipped.length > 0) {
      return {
        failure: {
          kind: "tls-required",
          response: `no MX host of ${domain} has a usable DANE TLSA answer (${skipped.map((h) => h.name).join(", ")})`,
          code: 451,
          enhanced: "4.7.5",
        },
      };
    }
    /** DANE replaces the CA check (so "require" plus the TLSA match); secure but unusable TLSA records still require TLS. */
    const tlsOf = (d: DaneRequirement | undefined): TlsMode =>
      d?.kind === "dane" || (d?.kind === "require-tls" && tls === "opportunistic") ? "require" : tls;
    const targets = hosts
      .flatMap((h) =>
        addressesInOrder(h, options.ipFamily).map((a) => {
          const d = dane.get(h.name);
          return {
            host: a.address,
            port: options.port,
            name: h.name,
            secure: false,
            tls: tlsOf(d),
            ...(sts ? { sts } : {}),
            ...(d?.kind === "dane" ? { dane: d.records } : {}),
          };
        }),
      )
      .slice(0, options.maxAddresses);
    if (targets.length === 0) {
      // MX records exist but have no usable address: retry, never fall back to A.
      const family = options.ipFamily === "prefer-ipv6" ? "" : `${options.ipFamily} `;
      const names = hosts.map((h) => h.name).join(", ") || "none";
      return {
        failure: {
          kind: "connection",
          response: `no ${family}address for the MX hosts of ${domain} (${names})`,
          code: 451,
          enhanced: "4.4.4",
        },
      };
    }
    return { targets };
  }

  return {
    route: (domain, log) =>
      options.relayHost ? Promise.resolve(viaRelayHost(domain, options.relayHost)) : viaMx(domain, log),
  };
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** Hosts left after removing us and everything not better than us (RFC 5321 5.1); "loop" when nothing is left. */
export function withoutSelf(
  hosts: readonly MxHost[],
  localNames: ReadonlySet<string>,
  localAddresses: ReadonlySet<string>,
): MxHost[] | "loop" {
  const isSelf = (h: MxHost) =>
    localNames.has(h.name) || h.addresses.some((a) => localAddresses.has(canonicalIp(a.address)));
  const self = hosts.filter(isSelf);
  if (self.length === 0) return [...hosts];
  const ownPreference = Math.min(...self.map((h) => h.preference));
  const better = hosts.filter((h) => h.preference < ownPreference && !isSelf(h));
  return better.length === 0 ? "loop" : better;
}

function canonicalIp(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
}

/** AAAA then A (prefer-ipv6), or one family only. */
export function addressesInOrder(host: MxHost, family: IpFamily): MxAddress[] {
  const six = host.addresses.filter((a) => a.family === 6);
  const four = host.addresses.filter((a) => a.family === 4);
  if (family === "ipv4") return four;
  if (family === "ipv6") return six;
  return [...six, ...four];
}

/** Only the usual loopback spellings: a relay at another 127.x address is treated as remote. */
function isUsualLoopbackSpelling(host: string): boolean {
  return host === "localhost" || host === "127.0.0.1" || host === "::1";
}
