// The Received trace header (RFC 5321 4.4) both daemons add, folded, with every
// client-supplied part reduced to characters that cannot break the header.
import type { Envelope } from "./types.ts";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 5322 date-time in UTC: "Tue, 24 Nov 2026 00:05:00 +0000". */
export function rfc5322Date(date: Date): string {
  return (
    `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/** An address literal for the client: [192.0.2.1] or [IPv6:2001:db8::1]. */
export function addressLiteral(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4) return `[${v4[1]}]`;
  if (ip.includes(":")) return `[IPv6:${ip.replace(/[^0-9a-fA-F:.]/g, "")}]`;
  return `[${ip.replace(/[^0-9.]/g, "")}]`;
}

/** HELO names and addresses come from the client: keep only what a domain or literal may hold. */
function clean(text: string, max = 255): string {
  return text.replace(/[^A-Za-z0-9.\-_:[\]@+=]/g, "").slice(0, max);
}

export interface ReceivedOptions {
  readonly envelope: Envelope;
  /** Our host name ("by"). */
  readonly hostname: string;
  /** The one recipient this copy is for ("for <...>"); omitted for a copy to several. */
  readonly recipient?: string;
  /** Line ending: "\r\n" (SMTP) or "\n" (mbox). */
  readonly eol?: string;
}

/** "Received: from helo ([ip]) by host (SEMail) with ESMTPS id ID for <rcpt>; date" + eol, folded. */
export function receivedHeader(options: ReceivedOptions): string {
  const { envelope, hostname } = options;
  const eol = options.eol ?? "\r\n";
  const session = envelope.session;
  const helo = clean(session.clientHostname) || "unknown";
  const lines = [
    `Received: from ${helo} (${addressLiteral(session.remoteAddress)})`,
    `\tby ${clean(hostname)} (SEMail) with ${clean(envelope.protocol) || "SMTP"} id ${clean(envelope.id)}`,
  ];
  const recipient = options.recipient === undefined ? "" : clean(options.recipient, 320);
  lines.push(`\t${recipient ? `for <${recipient}>` : ""}; ${rfc5322Date(envelope.receivedAt)}`);
  return lines.join(eol) + eol;
}
