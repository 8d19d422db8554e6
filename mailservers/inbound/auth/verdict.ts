// What a message's checks mean for its delivery: the domain's DMARC policy, applied when it
// failed DMARC and the operator enforces it (inbound.dmarcEnforce). p=reject refuses it,
// p=quarantine puts it in the mailbox's Junk folder, anything else (pass, none, temperror, a
// domain without a record, p=none) delivers it as usual. Enforcement off only records.
// An ARC chain is checked and reported, but never overrides a failure: that needs a list of
// trusted sealers (RFC 8617 section 7.2), which SEMail does not have.
import type { CheckResults } from "./check.ts";

export type Action = "deliver" | "junk" | "reject";

export interface Verdict {
  readonly action: Action;
  /** Why, for the log and the reply. */
  readonly reason: string;
}

export function verdictOf(results: CheckResults, enforce: boolean): Verdict {
  if (results.dmarc !== "fail") return { action: "deliver", reason: `dmarc=${results.dmarc}` };
  const domain = results.fromDomain ?? "the From domain";
  const policy = results.dmarcPolicy ?? "none";
  const failed = `${domain} publishes DMARC p=${policy}, and this message is not authenticated for it (SPF and DKIM do not pass aligned with the From domain)`;
  if (!enforce || policy === "none") return { action: "deliver", reason: failed };
  if (policy === "reject") return { action: "reject", reason: failed };
  if (policy === "quarantine") return { action: "junk", reason: failed };
  return { action: "deliver", reason: failed };
}
