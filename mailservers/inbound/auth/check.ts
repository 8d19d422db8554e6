// The checks themselves, by mailauth (the author of smtp-server and nodemailer): SPF of the
// connecting address for MAIL FROM (or HELO for the null sender), every DKIM signature, DMARC
// (alignment and the domain's policy) and the ARC chain. mailauth reads the message as
// received and writes the Authentication-Results text; this file picks out what SEMail keeps.
import type { Readable } from "node:stream";
import type { AuthenticateResult } from "mailauth";
import type { LookupRecords } from "./resolver.ts";

export interface CheckInput {
  /** The connecting address. */
  readonly ip: string;
  /** The name given in HELO/EHLO. */
  readonly helo: string;
  /** MAIL FROM; "" for the null sender (SPF then checks postmaster@HELO). */
  readonly mailFrom: string;
  /** Our authserv-id: the hostname setting. */
  readonly authservId: string;
  readonly lookup: LookupRecords;
}

/** What the checks found, in the words of Authentication-Results. */
export interface CheckResults {
  readonly spf: string;
  /** One result per signature ("none" without any), with its d=. */
  readonly dkim: readonly { readonly result: string; readonly domain?: string }[];
  readonly dmarc: string;
  /** The policy DMARC applies to a failing message: "reject", "quarantine" or "none" (undefined without a record). */
  readonly dmarcPolicy?: string;
  /** The From domain DMARC judged. */
  readonly fromDomain?: string;
  readonly arc: string;
  /** The Authentication-Results field mailauth wrote, CRLF-terminated. */
  readonly header: string;
}

/** The Authentication-Results field of mailauth's headers (it also writes Received-SPF, which we leave out). */
function resultsField(headers: string): string {
  const field = headers.split(/\r\n(?![ \t])/).find((f) => /^authentication-results:/i.test(f));
  if (field === undefined) throw new Error("mailauth wrote no Authentication-Results");
  return `${field}\r\n`;
}

export function summarize(result: AuthenticateResult): CheckResults {
  const dmarc = result.dmarc || undefined;
  const dkim = (result.dkim.results ?? []).map((r) => ({
    result: r.status.result,
    ...(r.signingDomain ? { domain: r.signingDomain } : {}),
  }));
  return {
    spf: result.spf ? result.spf.status.result : "none",
    dkim: dkim.length > 0 ? dkim : [{ result: "none" }],
    dmarc: dmarc?.status.result ?? "none",
    ...(dmarc?.policy ? { dmarcPolicy: dmarc.policy } : {}),
    ...(dmarc?.domain ? { fromDomain: dmarc.status.header?.from ?? dmarc.domain } : {}),
    arc: result.arc ? result.arc.status.result : "none",
    header: resultsField(result.headers),
  };
}

/** Runs every check over `message` (read to its end). Rejects only on a failure of mailauth itself. */
export async function checkMessage(message: Readable, input: CheckInput): Promise<CheckResults> {
  // Loaded with the first message checked: mailauth brings an HTTP client (for BIMI and
  // MTA-STS) that an idle daemon should not hold (tests/cli/bundle.test.ts).
  // mailauth is CommonJS: its exports are `default` (module.exports) both ways; the bundle
  // (esbuild, in Node's mode) gives no named ones, so a named import fails there only.
  const { authenticate } = (await import("mailauth")).default;
  const result = await authenticate(message, {
    ip: input.ip,
    helo: input.helo,
    ...(input.mailFrom === "" ? {} : { sender: input.mailFrom }),
    mta: input.authservId,
    resolver: input.lookup,
    // BIMI is a logo for a mail reader, fetched over HTTPS: not ours to do on arrival.
    disableBimi: true,
  });
  return summarize(result);
}
