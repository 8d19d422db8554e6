// The managed DNS zone as data and as BIND text. Pure, with no Pulumi import: the
// Pulumi program and the local mode (`semail start`, serving it with a real named)
// both render the zone from here.
import { STANDARD_MAIL_CLIENT_PORTS, type MailClientPorts } from "../mail-clients.ts";
import {
  DEFAULT_TRANSPORT_SECURITY,
  MTA_STS_HOST_LABEL,
  mtaStsPolicy,
  mtaStsRecord,
  TLSA_NAME,
  tlsaData,
  tlsRptRecord,
  type TransportSecurity,
} from "./transport-security.ts";
import { labelInZone, otherHostsSpf, type PeerHost } from "./mx-hosts.ts";

/** One DNS record set; `name` is relative to the zone ("@" is the apex). */
export interface ZoneRecord {
  readonly name: string;
  readonly type: "SOA" | "NS" | "A" | "AAAA" | "MX" | "TXT" | "SRV" | "CNAME" | "TLSA";
  readonly ttl: number;
  /** Record data in zone-file form, one entry per record. */
  readonly values: readonly string[];
}

/** A DKIM public key published as `<selector>._domainkey`. */
export interface DkimKey {
  readonly selector: string;
  /** Base64 of the public key (the `p=` value). */
  readonly publicKey: string;
}

export interface ZoneInput {
  /** The managed domain, lowercase, without trailing dot. */
  readonly domain: string;
  /** SOA serial; see `nextSerial`. */
  readonly serial: number;
  /** Public IPv4 address of the mail host (mx, ns, and autoconfig: the web form answers there). */
  readonly ipv4: string;
  /** Public IPv6 address of the mail host, if any. */
  readonly ipv6?: string | undefined;
  /** Domains of the live mailboxes; subdomains of `domain` get MX, SPF and the mail programs' records. */
  readonly mailboxDomains: readonly string[];
  /** Mail domain -> its MX name where that is not mx.<domain>: its mailboxes live on another SEMail host (mx-hosts.ts domainMx). */
  readonly mailboxMx?: Readonly<Record<string, string>>;
  /** The other SEMail hosts: an MX name of theirs inside the zone gets their A/AAAA, and their addresses are in the SPF. */
  readonly otherHosts?: readonly PeerHost[];
  /** The ports the SRV records announce on mx.<domain>; default the standard ones (the VM publishes them). */
  readonly mailClientPorts?: MailClientPorts;
  /** DKIM keys; none gives no DKIM record. */
  readonly dkim?: readonly DkimKey[];
  /** DMARC policy for the domain and its subdomains. */
  readonly dmarcPolicy?: "none" | "quarantine" | "reject";
  /** MTA-STS, TLS-RPT and the MX's TLSA records (config/stack/transport-security.ts); default MTA-STS enforce, no TLSA. */
  readonly transport?: TransportSecurity;
  /** Default TTL in seconds. */
  readonly ttl?: number;
}

const DEFAULT_TTL = 3600;
const MAX_SERIAL = 4294967295;

/**
 * A serial that is larger than `previous` and at least today's YYYYMMDD00, so it
 * increases on every change and still reads as a date.
 */
export function nextSerial(previous: number | undefined, now: Date): number {
  const day = now.getUTCFullYear() * 1000000 + (now.getUTCMonth() + 1) * 10000 + now.getUTCDate() * 100;
  const serial = Math.max((previous ?? 0) + 1, day);
  if (serial > MAX_SERIAL)
    throw new RangeError(`zone serial ${serial} exceeds 32 bits: reset the zone's SOA serial by hand (RFC 1982)`);
  return serial;
}

/**
 * The names under the domain with the VM's addresses (A, AAAA). autoconfig: the web form, on the
 * mail host, answers Mozilla's autoconfig for every mail domain; mta-sts: the webmail's nginx
 * serves the MTA-STS policy there. (The stack's ACME certificate names those clients reach by TLS.)
 */
export const VM_HOST_LABELS = ["mx", "ns", "autoconfig", MTA_STS_HOST_LABEL] as const;

/** The subdomain labels (relative to `domain`) that hold at least one mailbox, sorted. */
export function mailboxSubdomains(domain: string, mailboxDomains: readonly string[]): string[] {
  const suffix = `.${domain}`;
  const labels = new Set<string>();
  for (const d of mailboxDomains) if (d.endsWith(suffix)) labels.add(d.slice(0, -suffix.length));
  return [...labels].sort();
}

/** The MX and SPF record sets of a mailbox subdomain (`label` relative to `domain`); `mx` the host its mailboxes live on. */
export function subdomainRecords(
  label: string,
  domain: string,
  ttl = DEFAULT_TTL,
  mx = `mx.${domain}`,
): [mx: ZoneRecord, spf: ZoneRecord] {
  return [
    { name: label, type: "MX", ttl, values: [`10 ${mx}.`] },
    { name: label, type: "TXT", ttl, values: [txtData(`v=spf1 include:${domain} -all`)] },
  ];
}

/**
 * The RFC 6186 services, the port each is on, and their priority: TLS from the first byte is
 * preferred to STARTTLS (RFC 8314 section 5.1). Plain POP3 is never offered.
 */
const SRV_SERVICES: ReadonlyArray<readonly [name: string, port: keyof MailClientPorts | undefined, priority: number]> =
  [
    ["_submissions._tcp", "submissions", 0],
    ["_submission._tcp", "submission", 10],
    ["_imaps._tcp", "imaps", 0],
    ["_imap._tcp", "imap", 10],
    ["_pop3s._tcp", "pop3s", 0],
    ["_pop3._tcp", undefined, 0],
  ];

/**
 * An SRV record per service, named by `at(service)`, naming `mxHost` and its port, or the
 * target "." for a service not offered (RFC 6186 section 4); then, when given, autoconfig
 * as an alias of `autoconfigHost` (the web form answers Mozilla's autoconfig there).
 */
function clientRecords(
  at: (name: string) => string,
  mxHost: string,
  autoconfigHost: string | undefined,
  ports: MailClientPorts,
  ttl: number,
): ZoneRecord[] {
  const records: ZoneRecord[] = SRV_SERVICES.map(([name, service, priority]) => {
    const port = service === undefined ? 0 : ports[service];
    return { name: at(name), type: "SRV", ttl, values: [port === 0 ? "0 0 0 ." : `${priority} 1 ${port} ${mxHost}.`] };
  });
  if (autoconfigHost !== undefined)
    records.push({ name: at("autoconfig"), type: "CNAME", ttl, values: [`${autoconfigHost}.`] });
  return records;
}

/**
 * What mail programs look up to set themselves up for the mail domain at `label` ("@" is the
 * apex): the SRV records naming `mxHost` (mx.<domain>, or the SEMail host the domain's mailboxes
 * live on, whose Dovecot and submission serve them); for a subdomain also autoconfig.<label>, an
 * alias of the apex's autoconfig (which has the host's addresses, see zoneRecords).
 */
export function mailClientRecords(
  label: string,
  domain: string,
  ports: MailClientPorts = STANDARD_MAIL_CLIENT_PORTS,
  ttl = DEFAULT_TTL,
  mxHost = `mx.${domain}`,
): ZoneRecord[] {
  const at = (name: string) => (label === "@" ? name : `${name}.${label}`);
  return clientRecords(at, mxHost, label === "@" ? undefined : `autoconfig.${domain}`, ports, ttl);
}

/**
 * The same for an external mail domain, as lines its owner may add to that domain's zone
 * (absolute names, no TTL; optional: mail flows without them): SRV records naming `mxHost`,
 * and autoconfig.<mailDomain> as an alias of autoconfig.<managedDomain>.
 */
export function mailClientRecordsFor(
  mailDomain: string,
  managedDomain: string,
  mxHost = `mx.${managedDomain}`,
  ports: MailClientPorts = STANDARD_MAIL_CLIENT_PORTS,
): string[] {
  return clientRecords(
    (name) => `${name}.${mailDomain}.`,
    mxHost,
    `autoconfig.${managedDomain}`,
    ports,
    DEFAULT_TTL,
  ).map((r) => `${r.name} IN ${r.type} ${r.values[0]}`);
}

/**
 * MTA-STS and TLS-RPT for the mail domain at `label` ("@" is the apex): `_mta-sts` and
 * `_smtp._tls` TXT records, and for a subdomain mta-sts.<label> as an alias of the apex's
 * mta-sts (which has the host's addresses, see zoneRecords), where the policy is served.
 */
export function transportRecords(
  label: string,
  domain: string,
  transport: TransportSecurity = DEFAULT_TRANSPORT_SECURITY,
  ttl = DEFAULT_TTL,
): ZoneRecord[] {
  const at = (name: string) => (label === "@" ? name : `${name}.${label}`);
  const records: ZoneRecord[] = [
    { name: at("_mta-sts"), type: "TXT", ttl, values: [txtData(mtaStsRecord(mtaStsPolicy(domain, transport)))] },
    { name: at("_smtp._tls"), type: "TXT", ttl, values: [txtData(tlsRptRecord(domain, transport.tlsRptRua))] },
  ];
  if (label !== "@")
    records.push({ name: at(MTA_STS_HOST_LABEL), type: "CNAME", ttl, values: [`${MTA_STS_HOST_LABEL}.${domain}.`] });
  return records;
}

/** TXT data split into quoted strings of at most 255 characters. */
export function txtData(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(`"${text.slice(i, i + 255).replace(/["\\]/g, "\\$&")}"`);
  return parts.join(" ");
}

/** The MX record set a mailbox domain needs, in zone-file form with absolute names; `mx` the host its mailboxes live on. */
export function mxRecordFor(
  mailboxDomain: string,
  managedDomain: string,
  ttl = DEFAULT_TTL,
  mx = `mx.${managedDomain}`,
): string {
  return `${mailboxDomain}. ${ttl} IN MX 10 ${mx}.`;
}

/**
 * Every record set of the zone. With `withSubdomainMx: false` the per-mailbox records (MX,
 * SPF, SRV, autoconfig, MTA-STS, TLS-RPT) are left out (a Mailbox creates them itself at a hosted DNS provider).
 */
export function zoneRecords(input: ZoneInput, options: { withSubdomainMx?: boolean } = {}): ZoneRecord[] {
  const ttl = input.ttl ?? DEFAULT_TTL;
  const d = input.domain;
  const policy = input.dmarcPolicy ?? "quarantine";
  const records: ZoneRecord[] = [
    { name: "@", type: "SOA", ttl, values: [`ns.${d}. hostmaster.${d}. ${input.serial} 3600 900 1209600 300`] },
    { name: "@", type: "NS", ttl, values: [`ns.${d}.`] },
    { name: "@", type: "MX", ttl, values: [`10 mx.${d}.`] },
    // Every SEMail host sends its own mailboxes' mail: theirs are in the SPF too (mx-hosts.ts otherHostsSpf).
    {
      name: "@",
      type: "TXT",
      ttl,
      values: [txtData(["v=spf1 mx", ...otherHostsSpf(input.otherHosts ?? [], d), "-all"].join(" "))],
    },
    {
      name: "_dmarc",
      type: "TXT",
      ttl,
      values: [txtData(`v=DMARC1; p=${policy}; sp=${policy}; rua=mailto:postmaster@${d}`)],
    },
  ];
  for (const host of VM_HOST_LABELS) {
    records.push({ name: host, type: "A", ttl, values: [input.ipv4] });
    if (input.ipv6) records.push({ name: host, type: "AAAA", ttl, values: [input.ipv6] });
  }
  records.push(...otherHostRecords(input, ttl));
  for (const key of input.dkim ?? []) {
    records.push({
      name: `${key.selector}._domainkey`,
      type: "TXT",
      ttl,
      values: [txtData(`v=DKIM1; k=rsa; p=${key.publicKey}`)],
    });
  }
  const transport = input.transport ?? DEFAULT_TRANSPORT_SECURITY;
  // DANE for the MX: the current key's record, and during a rollover the next key's beside it.
  if (transport.tlsa?.length)
    records.push({ name: TLSA_NAME, type: "TLSA", ttl, values: transport.tlsa.map(tlsaData) });
  const ports = input.mailClientPorts ?? STANDARD_MAIL_CLIENT_PORTS;
  records.push(...mailClientRecords("@", d, ports, ttl), ...transportRecords("@", d, transport, ttl));
  if (options.withSubdomainMx ?? true) {
    const labels = mailboxSubdomains(d, input.mailboxDomains);
    // A set: looked up for every record of every label, so a scan of the list made the zone quadratic.
    const taken = new Set(labels);
    for (const label of labels) {
      // A hand-written mailbox on autoconfig.<label> itself keeps its records; no alias there.
      const mx = input.mailboxMx?.[`${label}.${d}`] ?? `mx.${d}`;
      const clients = [
        ...mailClientRecords(label, d, ports, ttl, mx),
        ...transportRecords(label, d, transport, ttl),
      ].filter((r) => !taken.has(r.name));
      records.push(...subdomainRecords(label, d, ttl, mx), ...clients);
    }
  }
  return records;
}

/** A and AAAA for each other host's MX name inside the zone (one the VM's own names do not already take). */
function otherHostRecords(input: ZoneInput, ttl: number): ZoneRecord[] {
  const taken = new Set<string>(VM_HOST_LABELS);
  const records: ZoneRecord[] = [];
  for (const host of input.otherHosts ?? []) {
    const label = labelInZone(host.mx, input.domain);
    if (label === undefined || taken.has(label)) continue;
    taken.add(label);
    if (host.ip) records.push({ name: label, type: "A", ttl, values: [host.ip] });
    if (host.ip6) records.push({ name: label, type: "AAAA", ttl, values: [host.ip6] });
  }
  return records;
}

/** The zone file. The serial sits alone on a line marked `; serial` so a host script can bump it. */
export function renderZone(input: ZoneInput): string {
  const ttl = input.ttl ?? DEFAULT_TTL;
  const lines = [
    `; ${input.domain}: generated by SEMail from the users list; edits are overwritten.`,
    `$ORIGIN ${input.domain}.`,
    `$TTL ${ttl}`,
  ];
  for (const record of zoneRecords(input)) {
    for (const value of record.values) {
      if (record.type === "SOA") {
        const [mname, rname, serial, ...timers] = value.split(" ");
        lines.push(`@ ${record.ttl} IN SOA ${mname} ${rname} (`, `    ${serial} ; serial`, `    ${timers.join(" ")} )`);
      } else {
        lines.push(`${record.name} ${record.ttl} IN ${record.type} ${value}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The named.conf stanza that serves the zone from `zoneFile`. */
export function renderNamedConfStanza(domain: string, zoneFile: string): string {
  return [
    `zone "${domain}" {`,
    "  type primary;",
    `  file "${zoneFile}";`,
    "  allow-transfer { none; };",
    "};",
    "",
  ].join("\n");
}
