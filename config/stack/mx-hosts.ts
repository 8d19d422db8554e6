// Which MX name a mail domain gets when its mailboxes live on several SEMail hosts (an entry's
// `host:`, config/mailbox-host.ts). Pure: the Pulumi program's zone and local mode's agree.
//
// The zone is published by one host (the Pulumi program's: the main host; local mode's: its own),
// whose MX is mx.<domain>. A domain whose mailboxes all live on another host gets that host's MX
// name, and keeps the source's while one is `moving` (the list says `host:` until the move is
// done). The managed domain itself, and a domain whose mailboxes are split across hosts, stay on
// mx.<domain>: mail for one of them that lives elsewhere arrives there and inbound hands it on.
import { isIP } from "node:net";
import { MAIN_HOST } from "../mailbox-host.ts";
import type { MailboxEntry } from "../users-list.ts";

/** What the zone needs of a SEMail host (the settings' `hosts` values carry more). */
export interface PeerHost {
  /** The name its mailboxes' domains get as MX. */
  readonly mx: string;
  readonly ip?: string | undefined;
  readonly ip6?: string | undefined;
}

/** The SEMail hosts by name (the settings' hosts); may name this one too. */
export type HostsByName = Readonly<Record<string, PeerHost>>;

/** The MX name of the host that publishes the zone: the managed domain's own (zone-file.ts VM_HOST_LABELS). */
export const mainMx = (managedDomain: string) => `mx.${managedDomain}`;

/** A host's MX name: mx.<domain> for the zone's `publisher`; another's, its `hosts` entry's mx; undefined if not named. */
export function mxNameOf(
  host: string,
  hosts: HostsByName,
  managedDomain: string,
  publisher: string = MAIN_HOST,
): string | undefined {
  return host === publisher ? mainMx(managedDomain) : hosts[host]?.mx;
}

/** `mx` relative to the zone of `domain` ("@" for the apex), or undefined when it is outside it. */
export function labelInZone(mx: string, domain: string): string | undefined {
  if (mx === domain) return "@";
  return mx.endsWith(`.${domain}`) ? mx.slice(0, -domain.length - 1) : undefined;
}

/**
 * Mail domain → its MX name, for the domains of `mailboxes` that do not go to the `publisher`'s
 * mx.<domain>; with a problem for each mailbox on a host `hosts` does not name (`setting` names
 * the setting, e.g. "semail:hosts").
 */
export function domainMx(
  mailboxes: readonly Pick<MailboxEntry, "owner" | "domain" | "kind" | "host">[],
  hosts: HostsByName,
  managedDomain: string,
  setting: string,
  publisher: string = MAIN_HOST,
): { readonly mx: Record<string, string>; readonly problems: string[] } {
  const problems: string[] = [];
  const hostsOf = new Map<string, Set<string>>();
  for (const m of mailboxes) {
    if (mxNameOf(m.host, hosts, managedDomain, publisher) === undefined) {
      problems.push(
        `${m.owner}'s mailbox is on host ${JSON.stringify(m.host)}, which ${setting} does not name: add ${setting}.${m.host} (its smtp, mx and mailRoot) or fix the entry's host`,
      );
      continue;
    }
    if (m.kind === "managed") continue;
    const set = hostsOf.get(m.domain) ?? new Set<string>();
    hostsOf.set(m.domain, set.add(m.host));
  }
  const mx: Record<string, string> = {};
  for (const [domain, on] of hostsOf) {
    const [only] = on;
    if (on.size === 1 && only !== publisher) mx[domain] = mxNameOf(only!, hosts, managedDomain, publisher)!;
  }
  return { mx, problems };
}

/** The other hosts' MX names, for the MTA-STS policy (senders must accept them for every domain). */
export function otherMxNames(hosts: HostsByName, managedDomain: string): string[] {
  const own = mainMx(managedDomain);
  return [...new Set(Object.values(hosts).map((h) => h.mx))].filter((mx) => mx !== own).sort();
}

/**
 * The SPF mechanisms that let the other hosts send for the managed domain and its subdomains
 * (each host sends its own mailboxes' mail from its own outbound): their ip/ip6, or `a:` their
 * MX name where no address is given.
 */
export function otherHostsSpf(hosts: Iterable<PeerHost>, managedDomain: string): string[] {
  const own = mainMx(managedDomain);
  const mechanisms = new Set<string>();
  for (const host of hosts) {
    if (host.mx === own) continue;
    if (host.ip) mechanisms.add(`ip4:${host.ip}`);
    if (host.ip6) mechanisms.add(`ip6:${host.ip6}`);
    if (!host.ip && !host.ip6) mechanisms.add(`a:${host.mx}`);
  }
  return [...mechanisms];
}

/** Problems with the hosts' addresses: bad ones, and none for an MX name inside our zone (which needs its A/AAAA). */
export function hostAddressProblems(hosts: HostsByName, managedDomain: string, setting: string): string[] {
  const problems: string[] = [];
  const own = mainMx(managedDomain);
  for (const [name, host] of Object.entries(hosts)) {
    if (host.ip !== undefined && isIP(host.ip) !== 4)
      problems.push(`${setting}.${name}.ip ${JSON.stringify(host.ip)} is not an IPv4 address`);
    if (host.ip6 !== undefined && isIP(host.ip6) !== 6)
      problems.push(`${setting}.${name}.ip6 ${JSON.stringify(host.ip6)} is not an IPv6 address`);
    if (host.mx !== own && labelInZone(host.mx, managedDomain) !== undefined && !host.ip && !host.ip6)
      problems.push(
        `${setting}.${name}.ip is required: its MX name ${host.mx} is in the ${managedDomain} zone, which must give it an address (set ip, ip6 or both)`,
      );
  }
  return problems;
}
