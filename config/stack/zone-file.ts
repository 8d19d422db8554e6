// The managed DNS zone as data and as BIND text. Pure, with no Pulumi import: the
// Pulumi program and the local mode (`semail start`, serving it with a real named)
// both render the zone from here.

/** One DNS record set; `name` is relative to the zone ("@" is the apex). */
export interface ZoneRecord {
  readonly name: string;
  readonly type: "SOA" | "NS" | "A" | "AAAA" | "MX" | "TXT";
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
  /** Public IPv4 address of the mail host (mx and ns). */
  readonly ipv4: string;
  /** Public IPv6 address of the mail host, if any. */
  readonly ipv6?: string | undefined;
  /** Domains of the mailboxes; subdomains of `domain` get an MX and an SPF record. */
  readonly mailboxDomains: readonly string[];
  /** DKIM keys; none gives no DKIM record. */
  readonly dkim?: readonly DkimKey[];
  /** DMARC policy for the domain and its subdomains. */
  readonly dmarcPolicy?: "none" | "quarantine" | "reject";
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
  if (serial > MAX_SERIAL) throw new RangeError(`zone serial ${serial} exceeds 32 bits: reset the zone's SOA serial by hand (RFC 1982)`);
  return serial;
}

/** The subdomain labels (relative to `domain`) that hold at least one mailbox, sorted. */
export function mailboxSubdomains(domain: string, mailboxDomains: readonly string[]): string[] {
  const suffix = `.${domain}`;
  const labels = new Set<string>();
  for (const d of mailboxDomains) if (d.endsWith(suffix)) labels.add(d.slice(0, -suffix.length));
  return [...labels].sort();
}

/** The MX and SPF record sets of a mailbox subdomain (`label` relative to `domain`). */
export function subdomainRecords(label: string, domain: string, ttl = DEFAULT_TTL): [mx: ZoneRecord, spf: ZoneRecord] {
  return [
    { name: label, type: "MX", ttl, values: [`10 mx.${domain}.`] },
    { name: label, type: "TXT", ttl, values: [txtData(`v=spf1 include:${domain} -all`)] },
  ];
}

/** TXT data split into quoted strings of at most 255 characters. */
export function txtData(text: string): string {
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(`"${text.slice(i, i + 255).replace(/["\\]/g, "\\$&")}"`);
  return parts.join(" ");
}

/** The MX record set a mailbox domain needs, in zone-file form with absolute names. */
export function mxRecordFor(mailboxDomain: string, managedDomain: string, ttl = DEFAULT_TTL): string {
  return `${mailboxDomain}. ${ttl} IN MX 10 mx.${managedDomain}.`;
}

/**
 * Every record set of the zone. With `withSubdomainMx: false` the per-mailbox MX and
 * SPF records are left out (a Mailbox creates them itself at a hosted DNS provider).
 */
export function zoneRecords(input: ZoneInput, options: { withSubdomainMx?: boolean } = {}): ZoneRecord[] {
  const ttl = input.ttl ?? DEFAULT_TTL;
  const d = input.domain;
  const policy = input.dmarcPolicy ?? "quarantine";
  const records: ZoneRecord[] = [
    { name: "@", type: "SOA", ttl, values: [`ns.${d}. hostmaster.${d}. ${input.serial} 3600 900 1209600 300`] },
    { name: "@", type: "NS", ttl, values: [`ns.${d}.`] },
    { name: "@", type: "MX", ttl, values: [`10 mx.${d}.`] },
    { name: "@", type: "TXT", ttl, values: [txtData("v=spf1 mx -all")] },
    { name: "_dmarc", type: "TXT", ttl, values: [txtData(`v=DMARC1; p=${policy}; sp=${policy}; rua=mailto:postmaster@${d}`)] },
  ];
  for (const host of ["mx", "ns"]) {
    records.push({ name: host, type: "A", ttl, values: [input.ipv4] });
    if (input.ipv6) records.push({ name: host, type: "AAAA", ttl, values: [input.ipv6] });
  }
  for (const key of input.dkim ?? []) {
    records.push({ name: `${key.selector}._domainkey`, type: "TXT", ttl, values: [txtData(`v=DKIM1; k=rsa; p=${key.publicKey}`)] });
  }
  if (options.withSubdomainMx ?? true) {
    for (const label of mailboxSubdomains(d, input.mailboxDomains)) records.push(...subdomainRecords(label, d, ttl));
  }
  return records;
}

/** The zone file. The serial sits alone on a line marked `; serial` so a host script can bump it. */
export function renderZone(input: ZoneInput): string {
  const ttl = input.ttl ?? DEFAULT_TTL;
  const lines = [`; ${input.domain}: generated by SEMail from the users list; edits are overwritten.`, `$ORIGIN ${input.domain}.`, `$TTL ${ttl}`];
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
  return [`zone "${domain}" {`, "  type primary;", `  file "${zoneFile}";`, "  allow-transfer { none; };", "};", ""].join("\n");
}
