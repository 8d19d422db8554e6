// Delivery status notifications (RFC 3464 multipart/report) for failed or delayed
// recipients, sent from MAILER-DAEMON with the null sender.
import { randomBytes } from "node:crypto";
import { rfc5322Date } from "../../../core/received.ts";

export interface DsnRecipient {
  readonly recipient: string;
  readonly action: "failed" | "delayed";
  /** RFC 3463 status, e.g. "5.1.1". */
  readonly status: string;
  /** The remote reply, e.g. "550 5.1.1 no such user". */
  readonly diagnostic?: string;
  /** The host that answered. */
  readonly remoteMta?: string;
  readonly lastAttempt?: number;
  /** For "delayed": when we give up. */
  readonly willRetryUntil?: number;
}

export interface DsnInput {
  /** Our host name (Reporting-MTA, MAILER-DAEMON@...). */
  readonly reportingMta: string;
  /** The envelope sender of the original message: the DSN's recipient. */
  readonly sender: string;
  readonly queueId: string;
  readonly arrival: number;
  readonly now: number;
  readonly recipients: readonly DsnRecipient[];
  /** The original message's header section. */
  readonly originalHeaders: string;
}

/** RFC 5322 date-time in UTC, of a time in ms. */
export const dateOf = (ms: number): string => rfc5322Date(new Date(ms));

/** One line of printable ASCII: a remote reply must not break our headers. */
function oneLine(text: string, max = 900): string {
  return text
    .replace(/[\r\n\t]+/g, " ")
    .replace(/[^\x20-\x7e]/g, "?")
    .trim()
    .slice(0, max);
}

const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** The RFC 3463 status for a reply: its enhanced code, else one derived from the basic code. */
export function statusFor(failure: { code?: number; enhanced?: string; expired?: boolean }): string {
  if (failure.enhanced && STATUS.test(failure.enhanced)) return failure.enhanced;
  if (failure.expired) return "4.4.7";
  if (failure.code !== undefined && failure.code >= 500) return "5.0.0";
  return "4.0.0";
}

export function buildDsn(input: DsnInput): string {
  const boundary = `=_semail_${randomBytes(12).toString("hex")}`;
  const failed = input.recipients.filter((r) => r.action === "failed");
  const mta = oneLine(input.reportingMta, 255);
  const crlf = (lines: readonly string[]) => lines.join("\r\n");

  const human =
    failed.length > 0
      ? [
          `This is the mail system at ${mta}.`,
          "",
          "Your message could not be delivered to one or more recipients.",
          "The reasons are below; the headers of your message are attached.",
          "",
          ...failed.map((r) => `<${oneLine(r.recipient)}>: ${oneLine(r.diagnostic ?? "delivery failed")}`),
        ]
      : [
          `This is the mail system at ${mta}.`,
          "",
          "Your message has not been delivered yet to the recipients below.",
          "Nothing needs to be done: delivery will be retried.",
          "",
          ...input.recipients.map(
            (r) =>
              `<${oneLine(r.recipient)}>: ${oneLine(r.diagnostic ?? "delivery deferred")}` +
              (r.willRetryUntil ? ` (retrying until ${dateOf(r.willRetryUntil)})` : ""),
          ),
        ];

  const perMessage = [
    `Reporting-MTA: dns; ${mta}`,
    `X-SEMail-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${dateOf(input.arrival)}`,
  ];
  const perRecipient = input.recipients.map((r) =>
    crlf([
      `Final-Recipient: rfc822; ${oneLine(r.recipient)}`,
      `Action: ${r.action}`,
      `Status: ${STATUS.test(r.status) ? r.status : r.action === "failed" ? "5.0.0" : "4.0.0"}`,
      ...(r.remoteMta ? [`Remote-MTA: dns; ${oneLine(r.remoteMta, 255)}`] : []),
      ...(r.diagnostic ? [`Diagnostic-Code: smtp; ${oneLine(r.diagnostic)}`] : []),
      ...(r.lastAttempt ? [`Last-Attempt-Date: ${dateOf(r.lastAttempt)}`] : []),
      ...(r.willRetryUntil ? [`Will-Retry-Until: ${dateOf(r.willRetryUntil)}`] : []),
    ]),
  );
  // Original headers as CRLF text; bare CR/LF become CRLF so nothing can smuggle a line.
  const headers = input.originalHeaders.replace(/\r\n|\r|\n/g, "\r\n").replace(/^(\r\n)+|(\r\n)+$/g, "");

  return crlf([
    `From: Mail Delivery System <MAILER-DAEMON@${mta}>`,
    `To: <${oneLine(input.sender)}>`,
    `Subject: ${failed.length > 0 ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)"}`,
    `Date: ${dateOf(input.now)}`,
    `Message-ID: <${input.queueId}.${input.now}.dsn@${mta}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated delivery status notification.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Description: Notification",
    "",
    ...human,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "Content-Description: Delivery report",
    "",
    ...perMessage,
    "",
    perRecipient.join("\r\n\r\n"),
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    `Content-Description: ${failed.length > 0 ? "Undelivered" : "Delayed"} Message Headers`,
    "",
    headers,
    "",
    `--${boundary}--`,
    "",
  ]);
}
