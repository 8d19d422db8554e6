// DANE for SMTP (RFC 7672) where the configured resolver validates DNSSEC: when the domain's
// MX answer and an MX host's `_25._tcp` TLSA answer both come back authentic (AD), the host is
// used only with STARTTLS and a certificate those records name: DANE-EE (3 1 1, the server's
// own key, no name or chain check) or DANE-TA (2 1 1, a key in its chain that signs it, with
// the MX name on the certificate). A secure TLSA answer with no usable record still requires
// TLS; a failed lookup (a validating resolver answers SERVFAIL for bogus data) skips the host.
import { createHash, X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import { query, TYPE } from "./dnssec-lookup.ts";

export interface TlsaRecord {
  usage: number;
  selector: number;
  matching: number;
  data: Buffer;
}

export type DaneRequirement =
  /** Usable TLSA records: the certificate must match one. */
  | { kind: "dane"; records: TlsaRecord[] }
  /** Secure TLSA records, none usable: TLS without authentication (RFC 7672 2.2). */
  | { kind: "require-tls" }
  /** The TLSA lookup failed: the host is not used (RFC 7672 2.2). */
  | { kind: "skip"; why: string };

export interface Dane {
  /** What DANE asks of each MX host of the domain; hosts absent from the map are not under DANE. */
  forHosts(domain: string, hosts: readonly string[]): Promise<Map<string, DaneRequirement>>;
}

export interface DaneOptions {
  /** The validating resolver, "IP", "IP:PORT" or "[IPv6]:PORT". */
  server: string;
  timeoutMs?: number;
}

export function createDane(options: DaneOptions): Dane {
  const timeoutMs = options.timeoutMs ?? 5000;
  return {
    async forHosts(domain, hosts) {
      const result = new Map<string, DaneRequirement>();
      let mx;
      try {
        mx = await query(options.server, domain, TYPE.MX, timeoutMs);
      } catch {
        return result;
      }
      // RFC 7672 2.2.1: an MX answer that is not secure gives no secure TLSA base name.
      if (!mx.authentic) return result;
      await Promise.all(
        hosts.map(async (host) => {
          let tlsa;
          try {
            tlsa = await query(options.server, `_25._tcp.${host}`, TYPE.TLSA, timeoutMs);
          } catch (err) {
            result.set(host, { kind: "skip", why: `TLSA lookup failed: ${(err as Error).message}` });
            return;
          }
          if (tlsa.rcode === 2) {
            result.set(host, { kind: "skip", why: "TLSA lookup failed (SERVFAIL: bogus or unreachable)" });
            return;
          }
          if (!tlsa.authentic) return;
          const records = tlsa.answers.filter((a) => a.type === TYPE.TLSA && a.data.length > 3).map(parseTlsa);
          if (records.length === 0) return;
          const usable = records.filter(isUsable);
          result.set(host, usable.length ? { kind: "dane", records: usable } : { kind: "require-tls" });
        }),
      );
      return result;
    },
  };
}

export function parseTlsa(record: { data: Buffer }): TlsaRecord {
  const d = record.data;
  return { usage: d[0]!, selector: d[1]!, matching: d[2]!, data: d.subarray(3) };
}

/** The records this sender honours: DANE-TA(2) and DANE-EE(3), over the SPKI (1), as SHA-256 (1). */
export function isUsable(r: TlsaRecord): boolean {
  return (r.usage === 2 || r.usage === 3) && r.selector === 1 && r.matching === 1 && r.data.length === 32;
}

export function spkiSha256(certificate: X509Certificate): Buffer {
  return createHash("sha256")
    .update(certificate.publicKey.export({ type: "spki", format: "der" }))
    .digest();
}

/**
 * Undefined when the chain (the server's certificate first) matches one of the records;
 * otherwise why it does not.
 */
export function daneMismatch(
  records: readonly TlsaRecord[],
  chain: readonly X509Certificate[],
  mxName: string,
  now = Date.now(),
): string | undefined {
  const leaf = chain[0];
  if (!leaf) return "the server sent no certificate";
  const digests = chain.map(spkiSha256);
  if (records.some((r) => r.usage === 3 && r.data.equals(digests[0]!))) return undefined;
  for (const r of records.filter((record) => record.usage === 2)) {
    const at = digests.findIndex((d, i) => i > 0 && r.data.equals(d));
    if (at < 0) continue;
    // Each certificate up to the trust anchor is signed by the next one.
    const signed = chain.slice(0, at).every((c, i) => c.verify(chain[i + 1]!.publicKey));
    const named = leaf.checkHost(mxName) !== undefined;
    const current = Date.parse(leaf.validFrom) <= now && now <= Date.parse(leaf.validTo);
    if (signed && named && current) return undefined;
  }
  return `the certificate of ${mxName} matches none of its TLSA records`;
}

/** The server's certificate chain as it sent it, its own first. */
export function peerChain(connection: SMTPConnection): X509Certificate[] {
  // nodemailer keeps the TLS socket private.
  const socket = (connection as unknown as { _socket?: TLSSocket })._socket;
  if (!socket || typeof socket.getPeerCertificate !== "function") return [];
  const chain: X509Certificate[] = [];
  let certificate = socket.getPeerCertificate(true);
  while (certificate?.raw && chain.length < 10) {
    chain.push(new X509Certificate(certificate.raw));
    const next = certificate.issuerCertificate;
    if (!next || next === certificate || next.raw?.equals(certificate.raw)) break;
    certificate = next;
  }
  return chain;
}
