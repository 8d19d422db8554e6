// The stack's ACME settings (`pulumi config`), for the certificate the VM gets from an ACME CA
// (components/acme-certificate.ts): which names it carries, how the CA checks them, which CA,
// and the contact address. The account key is the secret acmeAccountKey. An empty value means
// the default worked out from the rest of the stack, which these functions also say.
import type { HostCertificate } from "../sections/acme.ts";
import { domainProblem } from "../users-list.ts";
import { MTA_STS_HOST_LABEL } from "./transport-security.ts";
import { VM_HOST_LABELS } from "./zone-file.ts";

export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
/** Let's Encrypt refuses an order for more names than this. */
export const MAX_CERTIFICATE_NAMES = 100;

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const ACME_SETTINGS = {
  acmeNames: [
    "",
    "Names on the certificate from ACME, comma-separated or a JSON list (\"*.<domain>\" needs dns-01); empty for the zone's names of the VM that clients reach by TLS: mx, autoconfig and mta-sts under managedDomain. Every other served domain's mta-sts.<domain> gets a certificate of its own (subdomains by acmeChallenge, external domains by HTTP-01), served by SNI.",
  ],
  acmeChallenge: [
    "",
    "How the ACME CA checks the names: dns-01 (a TXT record in the zone on the VM's named) or http-01 (the webmail's port 80); empty for dns-01 with dnsProvider bind, http-01 with gandi.",
  ],
  acmeDirectoryUrl: [
    LETS_ENCRYPT_DIRECTORY,
    "The ACME CA's directory URL (Let's Encrypt's staging one to try things out: https://acme-staging-v02.api.letsencrypt.org/directory).",
  ],
  acmeEmail: ["", "Contact address given to the ACME CA; empty for postmaster@<managedDomain>."],
} as const;

export interface AcmeStackSettings {
  /** Every name a SAN, defaults applied, lowercase, no duplicates. */
  readonly acmeNames: readonly string[];
  readonly acmeChallenge: "dns-01" | "http-01";
  readonly acmeDirectoryUrl: string;
  readonly acmeEmail: string;
}

/** The default names: the zone's names with the VM's addresses that clients reach by TLS (not ns). */
export function defaultAcmeNames(managedDomain: string): string[] {
  return VM_HOST_LABELS.filter((label) => label !== "ns").map((label) => `${label}.${managedDomain}`);
}

/** Whether a certificate for `names` also covers `name` (itself, or a wildcard one level up). */
function covered(name: string, names: readonly string[]): boolean {
  return names.includes(name) || names.includes(`*.${name.slice(name.indexOf(".") + 1)}`);
}

/**
 * The MTA-STS policy hosts the main certificate leaves out, in certificates of their own
 * (services/acme/host-certificates.ts), so that a sender can fetch every served domain's policy:
 *
 * - a subdomain mailbox's mta-sts.<label>.<managedDomain> (a wildcard *.<managedDomain> cannot
 *   cover two levels) is in our zone: certificates "subdomains", "subdomains-2", ... of at most
 *   MAX_CERTIFICATE_NAMES names each, in name order, by the stack's challenge. Up to 100
 *   subdomains that is one certificate; past it a new subdomain re-orders the chunks from its
 *   place on (each a new certificate, within Let's Encrypt's 50 a week per registered domain).
 * - an external domain's mta-sts.<domain> is in its owner's zone: one certificate each, by
 *   HTTP-01 once the owner's CNAME points here, so a domain whose DNS is wrong fails alone.
 *
 * Kept apart from the main certificate on purpose: a new mailbox never reissues the certificate
 * the daemons serve (nor changes the key its DANE TLSA record pins).
 */
export function policyHostCertificates(
  liveDomains: Iterable<string>,
  managedDomain: string,
  challenge: "dns-01" | "http-01",
  mainNames: readonly string[] = [],
): HostCertificate[] {
  const domains = [...new Set(liveDomains)].filter((d) => d !== managedDomain).sort();
  const host = (domain: string) => `${MTA_STS_HOST_LABEL}.${domain}`;
  const wanted = (domain: string) => !covered(host(domain), mainNames);
  const subdomains = domains.filter((d) => d.endsWith(`.${managedDomain}`) && wanted(d)).map(host);
  const certificates: HostCertificate[] = [];
  for (let i = 0; i < subdomains.length; i += MAX_CERTIFICATE_NAMES) {
    const n = i / MAX_CERTIFICATE_NAMES + 1;
    certificates.push({
      id: n === 1 ? "subdomains" : `subdomains-${n}`,
      names: subdomains.slice(i, i + MAX_CERTIFICATE_NAMES),
      challenge,
    });
  }
  for (const domain of domains.filter((d) => !d.endsWith(`.${managedDomain}`) && wanted(d)))
    certificates.push({ id: domain, names: [host(domain)], challenge: "http-01" });
  return certificates;
}

const set = (key: string, example: string) => `(pulumi config set ${key} ${example})`;

/** A comma- (or space-) separated list, or a JSON list as `pulumi config set --path` makes. */
function splitNames(raw: string): string[] | string {
  if (raw.startsWith("[")) {
    try {
      const list: unknown = JSON.parse(raw);
      if (Array.isArray(list) && list.every((n) => typeof n === "string")) return list as string[];
    } catch {
      // Reported below as not a list.
    }
    return `${JSON.stringify(raw)} is not a JSON list of names`;
  }
  return raw.split(/[\s,]+/).filter(Boolean);
}

/**
 * Parses the raw values (trimmed; "" where unset) against the managed domain and DNS provider.
 * Every problem names its setting and how to fix it, as stack-config.ts's do.
 */
export function parseAcmeStackSettings(
  raw: Readonly<Record<keyof typeof ACME_SETTINGS, string>>,
  stack: { readonly managedDomain: string; readonly dnsProvider: "bind" | "gandi" },
): { readonly settings: AcmeStackSettings; readonly problems: string[] } {
  const problems: string[] = [];
  const domain = stack.managedDomain;

  let acmeChallenge: "dns-01" | "http-01" = stack.dnsProvider === "bind" ? "dns-01" : "http-01";
  if (raw.acmeChallenge === "dns-01" || raw.acmeChallenge === "http-01") acmeChallenge = raw.acmeChallenge;
  else if (raw.acmeChallenge !== "")
    problems.push(
      `semail:acmeChallenge ${JSON.stringify(raw.acmeChallenge)} is not valid: use "dns-01" or "http-01", or empty for the default ${set("acmeChallenge", "dns-01")}`,
    );
  if (raw.acmeChallenge === "dns-01" && stack.dnsProvider === "gandi")
    problems.push(
      `semail:acmeChallenge dns-01 publishes the challenge in the zone on the VM's named, but semail:dnsProvider is gandi: use http-01 ${set("acmeChallenge", "http-01")}`,
    );

  // Without a managed domain (reported as such) there is nothing to check the names against.
  const split = domain === "" ? [] : raw.acmeNames === "" ? defaultAcmeNames(domain) : splitNames(raw.acmeNames);
  const names: string[] = [];
  if (typeof split === "string") problems.push(`semail:acmeNames ${split} ${set("acmeNames", `mx.${domain}`)}`);
  else {
    for (const given of split) {
      const name = given.toLowerCase().replace(/\.$/, "");
      const wildcard = name.startsWith("*.");
      const base = wildcard ? name.slice(2) : name;
      const problem = domainProblem(base);
      if (problem) problems.push(`semail:acmeNames ${JSON.stringify(given)}: ${problem}`);
      else if (wildcard && acmeChallenge !== "dns-01")
        problems.push(
          `semail:acmeNames ${JSON.stringify(given)}: a wildcard needs semail:acmeChallenge dns-01 (HTTP-01 cannot prove one) ${set("acmeChallenge", "dns-01")}`,
        );
      else if (acmeChallenge === "dns-01" && base !== domain && !base.endsWith(`.${domain}`))
        problems.push(
          `semail:acmeNames ${JSON.stringify(given)} is not in the zone ${domain}, where DNS-01 publishes its challenge: use http-01 for it, or leave it out ${set("acmeChallenge", "http-01")}`,
        );
      else if (!names.includes(name)) names.push(name);
    }
    if (split.length === 0 && domain !== "")
      problems.push(`semail:acmeNames has no name ${set("acmeNames", `mx.${domain}`)}`);
    if (names.length > MAX_CERTIFICATE_NAMES)
      problems.push(`semail:acmeNames has ${names.length} names; a certificate holds at most ${MAX_CERTIFICATE_NAMES}`);
  }

  const acmeDirectoryUrl = raw.acmeDirectoryUrl;
  if (!/^https:\/\/[^\s/]+\/\S*$/.test(acmeDirectoryUrl))
    problems.push(
      `semail:acmeDirectoryUrl ${JSON.stringify(acmeDirectoryUrl)} must be the CA's https:// directory URL ${set("acmeDirectoryUrl", LETS_ENCRYPT_DIRECTORY)}`,
    );
  const acmeEmail = raw.acmeEmail === "" ? `postmaster@${domain}` : raw.acmeEmail;
  if (!/^[^\s@",;<>]+@[^\s@",;<>]+\.[^\s@",;<>]+$/.test(acmeEmail))
    problems.push(
      `semail:acmeEmail ${JSON.stringify(acmeEmail)} is not an email address ${set("acmeEmail", `hostmaster@${domain || "example.net"}`)}`,
    );

  return { settings: { acmeNames: names, acmeChallenge, acmeDirectoryUrl, acmeEmail }, problems };
}
