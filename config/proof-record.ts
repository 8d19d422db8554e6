// The record that proves a claim on an external domain: its name, its value, the line the
// owner adds. Named here, below the web form that asks for it and local mode's stand-in
// zones that carry it (webform/domain-proof.ts says why a token and not the MX).
import { randomBytes } from "node:crypto";

/** The label under the domain where the TXT record goes. */
export const PROOF_LABEL = "_semail";

/** A fresh token for one claim: 128 random bits, hex. */
export function newProofToken(): string {
  return randomBytes(16).toString("hex");
}

export function proofRecordName(domain: string): string {
  return `${PROOF_LABEL}.${domain}`;
}

export function proofRecordValue(token: string): string {
  return `semail-proof=${token}`;
}

/** The exact line the owner adds to their zone. */
export function proofRecord(domain: string, token: string): string {
  return `${proofRecordName(domain)}. IN TXT "${proofRecordValue(token)}"`;
}
