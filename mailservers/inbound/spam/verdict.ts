// What Rspamd's answer means here, and the headers that say it. Pure: no I/O.
// - "reject", or a score at or above rejectScore: refused, 550 5.7.1 with Rspamd's reason;
// - "greylist" or "soft reject", when greylisting is on: 451 4.7.1 (off by default: delivered);
// - "add header" or "rewrite subject", or a score at or above junkScore: into the mailbox's Junk;
// - otherwise INBOX.
// Every stored message carries X-Spamd-Result (the symbols), X-Spam-Score and X-Spam-Action,
// and X-Spam: Yes when it went to Junk; one that was not scanned carries X-Spam-Scanned: no
// with the reason instead. The same headers arriving with a message are removed first, so
// a sender cannot vouch for itself.
import type { RspamdResult } from "./rspamd-client.ts";

export interface VerdictPolicy {
  readonly rejectScore?: number;
  readonly junkScore?: number;
  readonly greylist: boolean;
}

export type SpamVerdict = "reject" | "defer" | "junk" | "inbox";

export function verdictOf(result: RspamdResult, policy: VerdictPolicy): SpamVerdict {
  const { action, score } = result;
  if (action === "reject" || (policy.rejectScore !== undefined && score >= policy.rejectScore)) return "reject";
  if (policy.greylist && (action === "greylist" || action === "soft reject")) return "defer";
  if (action === "add header" || action === "rewrite subject") return "junk";
  if (policy.junkScore !== undefined && score >= policy.junkScore) return "junk";
  return "inbox";
}

/** The headers this module adds; any arriving copy of them is removed (lower case). */
export const SPAM_HEADERS: readonly string[] = [
  "x-spamd-result",
  "x-spam-score",
  "x-spam-action",
  "x-spam",
  "x-spam-scanned",
];

/** Printable ASCII only (a symbol's options come from the message itself), at most `max` characters. */
export function headerText(value: string, max = 200): string {
  const clean = value.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

const score2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "?");

/** The headers of a scanned message, CRLF-terminated, folded as Rspamd's own milter folds them. */
export function scannedHeaders(result: RspamdResult, verdict: SpamVerdict): Buffer {
  const spam = verdict === "junk" || verdict === "reject";
  const lines = [
    `X-Spamd-Result: default: ${spam ? "True" : "False"} [${score2(result.score)} / ${score2(result.requiredScore)}]`,
  ];
  const symbols = [...result.symbols].sort((a, b) => a.name.localeCompare(b.name));
  for (const symbol of symbols) {
    const options = symbol.options.slice(0, 5).map((o) => headerText(o, 60).replace(/[[\];]/g, "?"));
    lines.push(
      `${headerText(symbol.name, 64)}(${score2(symbol.score)})${options.length ? `[${options.join(",")}]` : ""}`,
    );
  }
  const spamd = lines.join(";\r\n\t");
  return Buffer.from(
    `${spamd}\r\n` +
      `X-Spam-Score: ${score2(result.score)}\r\n` +
      `X-Spam-Action: ${result.action}\r\n` +
      (verdict === "junk" ? "X-Spam: Yes\r\n" : ""),
  );
}

/** The header of a message accepted without a verdict. */
export function unscannedHeaders(reason: string): Buffer {
  return Buffer.from(`X-Spam-Scanned: no (${headerText(reason)}); accepted unscanned\r\n`);
}

/** The text of the 550: Rspamd's reason if it gave one. */
export function rejectText(result: RspamdResult): string {
  const reason = result.smtpMessage ? headerText(result.smtpMessage, 160) : "Spam message rejected";
  return `Message refused as spam (score ${score2(result.score)}): ${reason}`;
}

const CRLF_CRLF = Buffer.from("\r\n\r\n");

/**
 * `message` (CRLF lines, as the front end passes it on) without any of SPAM_HEADERS in its
 * header section. Returns it as is when it has none, or when the header section does not
 * end within it.
 */
export function withoutSpamHeaders(message: Buffer): Buffer {
  // An empty header section (the message starts with its blank line) has nothing to remove.
  const end = message[0] === 0x0d && message[1] === 0x0a ? -1 : message.indexOf(CRLF_CRLF);
  if (end < 0) return message;
  const kept: Buffer[] = [];
  let removed = false;
  let drop = false;
  let start = 0;
  // Each line of the header section, its CRLF included; a continuation line follows its field.
  while (start <= end) {
    const eol = message.indexOf("\r\n", start) + 2;
    const line = message.subarray(start, eol);
    const first = line[0];
    if (first !== 0x20 && first !== 0x09) {
      const colon = line.indexOf(0x3a);
      const name = colon > 0 ? line.subarray(0, colon).toString("latin1").trim().toLowerCase() : "";
      drop = SPAM_HEADERS.includes(name);
    }
    if (drop) removed = true;
    else kept.push(line);
    start = eol;
  }
  if (!removed) return message;
  kept.push(message.subarray(start));
  return Buffer.concat(kept);
}
