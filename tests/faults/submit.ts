// Submission for the fault rows: one tagged message over a new session (EHLO, AUTH PLAIN,
// MAIL, RCPT, DATA), with every reply kept, so a row can tell an AUTH refusal from a DATA one.
import type { Target } from "../helpers/target-smtp.ts";
import { SmtpClient, simpleMessage, type Reply } from "../helpers/smtp.ts";
import { plain } from "../mailservers/outbound/daemon-fixture.ts";
import { countTags, type Ledger } from "./ledger.ts";

export interface Submission {
  /** The AUTH reply ("235 ...", "454 4.7.0 ..."). */
  readonly auth: Reply;
  /** The last reply: DATA's final one when AUTH passed, else the AUTH reply. */
  readonly final: Reply;
  /** When the AUTH reply came (Date.now()). */
  readonly authAt: number;
}

export interface SubmitOptions {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly from: string;
  readonly to: string;
  readonly tag: string;
}

/** One session for one message; a dropped connection throws. */
export async function submitTagged(options: SubmitOptions): Promise<Submission> {
  const client = await SmtpClient.connect(options.port);
  try {
    await client.command("EHLO client.test");
    const auth = await client.command(`AUTH PLAIN ${plain(options.user, options.password)}`);
    const authAt = Date.now();
    if (auth.code !== 235) return { auth, final: auth, authAt };
    for (const line of [`MAIL FROM:<${options.from}>`, `RCPT TO:<${options.to}>`]) {
      const reply = await client.command(line);
      if (reply.code !== 250) return { auth, final: reply, authAt };
    }
    const final = await client.data(simpleMessage({ from: options.from, to: options.to, subject: options.tag }));
    await client.command("QUIT").catch(() => undefined);
    return { auth, final, authAt };
  } finally {
    client.close();
  }
}

/** Puts the outcome of one submission in the ledger; a thrown error counts as a refusal. */
export async function submitToLedger(ledger: Ledger, options: SubmitOptions): Promise<Submission | undefined> {
  try {
    const submission = await submitTagged(options);
    const reply = submission.final;
    if (reply.code === 250) ledger.accepted(options.tag);
    else ledger.refused(options.tag, `${reply.code} ${reply.text}`);
    return submission;
  } catch (err) {
    ledger.refused(options.tag, `dropped: ${(err as Error).message}`);
    return undefined;
  }
}

/** The Subject header of a raw message (no folding: the rows' subjects are short). */
export function subjectOf(raw: Buffer): string | undefined {
  const head = raw.toString("latin1").split(/\r?\n\r?\n/, 1)[0] ?? "";
  return /^Subject: (.*)$/im.exec(head)?.[1]?.trim();
}

/** How often each tag reached `targets`. */
export function arrivalsAt(...targets: readonly Target[]): Map<string, number> {
  return countTags(targets.flatMap((t) => t.messages.map((m) => subjectOf(m.raw))));
}
