// Proof that whoever claims a mailbox on an external domain controls that domain's DNS:
// a TXT record at _semail.<domain> carrying a token made for that one claim.
//
// Why a token and not the MX: an MX pointing here shows only that the domain's mail comes
// to this server. That is true of every domain already served here, and stays true after
// the person who set it has left, so anyone could claim such a domain. A token made for
// one claim and published where only the domain's controller can write ties the domain to
// that claim; a second claimant gets another token, so the first one's record proves
// nothing for them. The MX is still needed to receive mail, and the page shows it too.
import { Resolver } from "node:dns/promises";
import { proofRecordName, proofRecordValue } from "../config/proof-record.ts";

export type ProofVerdict =
  | { readonly state: "proven" }
  /** No TXT record at the name (NXDOMAIN or no data). */
  | { readonly state: "absent" }
  /** TXT records exist there, none with this claim's token. */
  | { readonly state: "mismatch"; readonly found: readonly string[] }
  /** The DNS did not give an answer (timeout, SERVFAIL, REFUSED). */
  | { readonly state: "unknown"; readonly detail: string };

/** The verdict for the TXT strings found at the proof name (each record's chunks already joined). */
export function judgeProof(records: readonly string[], token: string): ProofVerdict {
  const wanted = proofRecordValue(token);
  if (records.some((r) => r.trim() === wanted)) return { state: "proven" };
  return records.length === 0 ? { state: "absent" } : { state: "mismatch", found: records.slice(0, 5) };
}

export type ProofLookup = (domain: string, token: string) => Promise<ProofVerdict>;

const NO_RECORD = new Set(["ENODATA", "ENOTFOUND", "NXDOMAIN"]);

/** Looks the proof up in DNS: `servers` ("IP" or "IP:PORT"), or the system's resolvers when empty. */
export function createProofLookup(
  options: { readonly servers?: readonly string[]; readonly timeoutMs?: number } = {},
): ProofLookup {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  return async (domain, token) => {
    try {
      const records = await resolver.resolveTxt(proofRecordName(domain));
      return judgeProof(
        records.map((chunks) => chunks.join("")),
        token,
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      return NO_RECORD.has(code) ? { state: "absent" } : { state: "unknown", detail: code || (err as Error).message };
    }
  };
}
