// The part of the mailbox page for a claim on an external domain that is not proven yet:
// the exact TXT record to publish, what the last check found, and when the next one runs.
import type { MailboxEntry } from "../config/users-list.ts";
import { proofRecord, proofRecordName } from "../config/proof-record.ts";
import type { ProofVerdict } from "./domain-proof.ts";
import { codeLines, html, type Html } from "./html.ts";
import type { ProofState } from "./proof-checker.ts";

function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function proofVerdictText(domain: string, verdict: ProofVerdict | undefined): string {
  if (verdict === undefined) return "Not checked yet.";
  switch (verdict.state) {
    case "proven":
      return "The record is there.";
    case "absent":
      return `There is no TXT record at ${proofRecordName(domain)} yet.`;
    case "mismatch":
      return `${proofRecordName(domain)} has TXT records, but none with this mailbox's token: ${verdict.found.map((f) => JSON.stringify(f)).join(", ")}.`;
    case "unknown":
      return `The DNS of ${domain} did not answer (${verdict.detail}).`;
  }
}

/** What the checker did and will do, in one sentence. */
export function proofScheduleText(state: ProofState): string {
  const checked =
    state.lastCheckedAt !== undefined
      ? `Last checked ${when(state.lastCheckedAt)} (try ${state.tries} of ${state.maxTries}). `
      : "";
  if (state.refused) return `${checked}The record was found, but the mailbox cannot go live: ${state.refused}`;
  if (state.nextCheckAt === undefined)
    return `${checked}Automatic checks have stopped; press Check now once the record is published.`;
  return `${checked}Next automatic check: ${when(state.nextCheckAt)}.`;
}

export function pendingProofSection(m: MailboxEntry, state: ProofState, csrf: Html): Html {
  return html`<section id="proof" aria-labelledby="proof-title">
<h2 id="proof-title">Prove that ${m.domain} is yours</h2>
<p><strong>This mailbox is not live yet.</strong> Until the DNS of ${m.domain} carries the record below, mail to ${m.address} is refused and you cannot send from it. Add this record to the zone of ${m.domain}:</p>
${codeLines([proofRecord(m.domain, m.pendingProof!)])}
<p class="hint">The token is this mailbox's own: a record made for someone else's claim proves nothing for yours. It may stay published after the mailbox goes live.</p>
<p id="proof-state">${proofVerdictText(m.domain, state.verdict)} ${proofScheduleText(state)}</p>
<form method="post" action="/mailbox/proof">
${csrf}
<button type="submit">Check now</button>
</form>
</section>`;
}
