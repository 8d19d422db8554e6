// Transport security SEMail publishes for every mail domain it serves: MTA-STS (RFC 8461:
// the `_mta-sts` TXT record and the policy document served at
// https://mta-sts.<domain>/.well-known/mta-sts.txt), TLS-RPT (RFC 8460: the `_smtp._tls`
// TXT record, where senders report failures) and DANE (RFC 7672: a TLSA `3 1 1` record
// for the MX certificate's key). Pure: the zone renderer, the Pulumi program, local mode
// and the web form all take their text from here.
//
// Decisions, said once:
// - One policy for every domain, naming mx.<managedDomain> and every other SEMail host's MX
//   (a domain whose mailboxes live there has that host's MX). Its id is a
//   hash of the policy's text, so it changes exactly when the policy does (a sender then
//   fetches it again) and a deploy that changes nothing changes no record.
// - TLSA `3 1 1` (DANE-EE, the SubjectPublicKeyInfo, SHA-256): the key, not the certificate,
//   so a renewal that keeps the key keeps the record. A rollover publishes the next key's
//   record beside the current one (the `tlsNextKey` setting) for at least two TTLs before
//   the certificate changes to that key (docs: the operator guide's DANE rollover).
import { createHash, createPublicKey, X509Certificate } from "node:crypto";

export type MtaStsMode = "enforce" | "testing" | "none";
export const MTA_STS_MODES: readonly MtaStsMode[] = ["enforce", "testing", "none"];
/** RFC 8461 section 3.2: max_age at most 31557600 seconds (a year). */
export const MTA_STS_MAX_AGE_LIMIT = 31557600;
/** Where senders fetch the policy (RFC 8461 section 3.3), on the host mta-sts.<domain>. */
export const MTA_STS_PATH = "/.well-known/mta-sts.txt";
/** The label of the policy's host, in front of each mail domain. */
export const MTA_STS_HOST_LABEL = "mta-sts";

export interface TransportSecurity {
  /** MTA-STS mode: enforce (never deliver without valid TLS to the policy's MX), testing (report only) or none (withdraws the policy). */
  readonly mtaStsMode: MtaStsMode;
  /** How long senders may cache the policy, in seconds. */
  readonly mtaStsMaxAge: number;
  /** TLS-RPT's rua (`mailto:` or `https:` URIs, comma-separated); default mailto:postmaster@<managedDomain>. */
  readonly tlsRptRua?: string | undefined;
  /** Hex SHA-256 of each key's SubjectPublicKeyInfo (`spkiSha256`): the current key's first, then the next key's. */
  readonly tlsa?: readonly string[] | undefined;
  /** The other SEMail hosts' MX names (config/stack/mx-hosts.ts otherMxNames): the policy names them beside mx.<managedDomain>. */
  readonly otherMx?: readonly string[] | undefined;
}

export const DEFAULT_TRANSPORT_SECURITY: TransportSecurity = { mtaStsMode: "enforce", mtaStsMaxAge: 604800 };

/** The policy document (RFC 8461 section 3.2), CRLF-terminated lines. */
export function mtaStsPolicy(
  managedDomain: string,
  t: Pick<TransportSecurity, "mtaStsMode" | "mtaStsMaxAge" | "otherMx">,
): string {
  // A domain whose mailboxes live on another SEMail host has that host's MX: a sender enforcing
  // the policy must accept it too.
  const mx = [`mx.${managedDomain}`, ...(t.otherMx ?? [])].map((name) => `mx: ${name}`);
  const lines = ["version: STSv1", `mode: ${t.mtaStsMode}`, ...mx, `max_age: ${t.mtaStsMaxAge}`];
  return lines.map((line) => `${line}\r\n`).join("");
}

/** The policy's id (1 to 32 letters and digits): a hash of its text, so it changes when the policy does. */
export function mtaStsId(policy: string): string {
  return createHash("sha256").update(policy).digest("hex").slice(0, 20);
}

/** The `_mta-sts` TXT record's text. */
export function mtaStsRecord(policy: string): string {
  return `v=STSv1; id=${mtaStsId(policy)}`;
}

/** The `_smtp._tls` TXT record's text. */
export function tlsRptRecord(managedDomain: string, rua?: string): string {
  return `v=TLSRPTv1; rua=${rua || `mailto:postmaster@${managedDomain}`}`;
}

/** The TLSA record's data for one key (DANE-EE, SPKI, SHA-256). */
export function tlsaData(spkiHash: string): string {
  return `3 1 1 ${spkiHash.toLowerCase()}`;
}

/** The TLSA record's owner for the MX host's port 25, relative to the managed zone. */
export const TLSA_NAME = "_25._tcp.mx";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/;

/**
 * Hex SHA-256 of the SubjectPublicKeyInfo in `pem`: of the first certificate of a chain (the
 * server's own), else of a public or private key (a next key made before its certificate).
 */
export function spkiSha256(pem: string | Buffer): string {
  const text = pem.toString();
  const block = PEM_BLOCK.exec(text);
  if (!block) throw new Error("no PEM block found: expected a certificate, a public key or a private key");
  const key = block[1] === "CERTIFICATE" ? new X509Certificate(block[0]).publicKey : createPublicKey(block[0]);
  const der = key.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("hex");
}

/** A hex SHA-256: what `tlsa` entries must be. */
export const SPKI_HASH = /^[0-9a-f]{64}$/i;

/**
 * The lines an external mail domain's owner may add to that domain's zone (absolute names,
 * no TTL; optional: mail flows without them). The MTA-STS policy is only fetched over
 * HTTPS with a certificate naming mta-sts.<mailDomain>: once the CNAME points here, `semail
 * cert` gets one of its own by HTTP-01 (acme-stack-settings.ts policyHostCertificates).
 */
export function transportRecordsFor(mailDomain: string, managedDomain: string, t: TransportSecurity): string[] {
  const quote = (text: string) => `"${text}"`;
  return [
    `_mta-sts.${mailDomain}. IN TXT ${quote(mtaStsRecord(mtaStsPolicy(managedDomain, t)))}`,
    `${MTA_STS_HOST_LABEL}.${mailDomain}. IN CNAME ${MTA_STS_HOST_LABEL}.${managedDomain}.`,
    `_smtp._tls.${mailDomain}. IN TXT ${quote(tlsRptRecord(managedDomain, t.tlsRptRua))}`,
  ];
}

/** The webmail's folder of policies, beside its autoconfig folder (assets/images/webmail reads it there). */
export const MTA_STS_FOLDER = "mta-sts";

/** A domain as the users list keeps it (lowercase labels): the only names a policy file may have. */
const FILE_DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** The policy file for a domain, in the folder the webmail's nginx serves them from (`<domain>.txt`). */
export function mtaStsFileName(domain: string): string {
  if (!FILE_DOMAIN.test(domain))
    throw new Error(`MTA-STS: ${JSON.stringify(domain)} is not a lowercase domain name, so no file is named after it`);
  return `${domain}.txt`;
}

/**
 * File name -> policy, for the managed domain and each domain with a live mailbox (its
 * subdomains, proven external domains; never a pending claim's): the same policy each, as
 * the webmail's nginx serves it for Host: mta-sts.<domain>.
 */
export function mtaStsFiles(
  domains: Iterable<string>,
  managedDomain: string,
  t: Pick<TransportSecurity, "mtaStsMode" | "mtaStsMaxAge" | "otherMx">,
): Record<string, string> {
  const policy = mtaStsPolicy(managedDomain, t);
  const files: Record<string, string> = {};
  for (const domain of [...new Set([managedDomain, ...domains])].sort()) files[mtaStsFileName(domain)] = policy;
  return files;
}

/** sha256 of nothing: what a failed openssl in a pipe would hash; never a key's. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * A shell line, run on the VM, that prints the hex SHA-256 of the SubjectPublicKeyInfo of
 * `certFile`'s first certificate, then of `nextKeyFile`'s key (private or public) when one is
 * named: one per line, as `spkiSha256` computes them. A file that is not there (yet) prints
 * nothing, so no TLSA record is published rather than a wrong one.
 */
export function tlsaReadCommand(certFile: string, nextKeyFile = ""): string {
  const script = [
    "set -o pipefail",
    'h=; [ -r "$1" ] && h=$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum) && echo "${h%% *}"',
    'n=; [ -n "$2" ] && [ -r "$2" ] && n=$({ openssl pkey -in "$2" -pubout 2>/dev/null || openssl pkey -pubin -in "$2"; } | openssl pkey -pubin -outform DER | sha256sum) && echo "${n%% *}"',
    "true",
  ].join("\n");
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  return ["bash", "-c", script, "tls-spki", certFile, nextKeyFile].map(quote).join(" ");
}

/** The hashes `tlsaReadCommand` printed, in order, each once; anything else is refused. */
export function parseTlsaOutput(stdout: string): string[] {
  const hashes: string[] = [];
  for (const line of stdout.split("\n").map((l) => l.trim().toLowerCase())) {
    if (line === "") continue;
    if (!SPKI_HASH.test(line) || line === EMPTY_SHA256)
      throw new Error(`TLSA: ${JSON.stringify(line.slice(0, 80))} is not the SHA-256 of a key (is openssl on the VM?)`);
    if (!hashes.includes(line)) hashes.push(line);
  }
  return hashes;
}

/**
 * The policy hosts a certificate must name for senders to fetch the policies (RFC 8461 section
 * 3.3 checks it for mta-sts.<domain>): one per served domain, the managed domain's first. A
 * wildcard *.<managedDomain> covers only the managed domain's own; a subdomain's is a name of its own.
 */
export function mtaStsHostNames(domains: Iterable<string>, managedDomain: string): string[] {
  const others = [...new Set(domains)].filter((d) => d !== managedDomain).sort();
  return [managedDomain, ...others].map((d) => `${MTA_STS_HOST_LABEL}.${d}`);
}
