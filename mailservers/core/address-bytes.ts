// Envelope addresses judged by the bytes the client sent. smtp-server decodes each command
// line as UTF-8 before any hook sees it, so an invalid byte arrives as U+FFFD: the senders
// `\xff-R@x.example` and `\xfe-R@x.example` would become one address, and share one folder
// (store/folder-name.ts). Its handlers do get the line as a Buffer; connection-guard.ts
// hands that to the front end, which asks addressProblem before the backend.
//
// Replies, as the RFCs name them:
// - invalid UTF-8 in the address, with or without SMTPUTF8: 553 ("mailbox name not allowed
//   (e.g., mailbox syntax incorrect)", RFC 5321 4.2.2), 5.1.7 at MAIL and 5.1.3 at RCPT
//   ("bad sender's / destination mailbox address syntax", RFC 3463). RFC 6531 3.3 widens the
//   mailbox syntax by UTF8-non-ascii only, which is well-formed UTF-8 (RFC 6532, RFC 3629), so
//   no syntax admits these bytes; that is also why 5.1.x and not 5.6.7 without SMTPUTF8.
// - invalid UTF-8 in the parameters after the address: 501 5.5.4 (RFC 5321 "syntax error in
//   parameters or arguments", RFC 3463 "invalid command arguments").
// - a non-ASCII address in a transaction whose MAIL has no SMTPUTF8: RFC 6531 3.5 says 550 at
//   MAIL, 553 at RCPT, both with 5.6.7 ("non-ASCII addresses not permitted").
// - smtp-server also turns A-labels into U-labels (`xn--ls8h` is `💩`, the same domain, as
//   two cases of a letter are). Only a U-label's own A-label (RFC 5890 2.3.2.1) may be decoded:
//   `xn--abc-` would become `abc`, and `xn--ib9b` and `xn--r49b` lone surrogates, which no
//   string of bytes can hold apart. Those are bad syntax, 553 5.1.7 / 5.1.3.
import { isAscii, isUtf8 } from "node:buffer";
import { domainToASCII } from "node:url";
import { permFail, type SmtpError } from "./types.ts";

export type AddressCommand = "MAIL" | "RCPT";

const COLON = 0x3a;
const LT = 0x3c;
const GT = 0x3e;
// smtp-server drops a source route ("@relay.example:") from the path, as RFC 5321 C allows.
const SOURCE_ROUTE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;

/**
 * The refusal for a MAIL or RCPT line smtp-server has accepted, or undefined.
 * `line`: the command as sent (undefined if it could not be kept); `parsed`: smtp-server's
 * address from it; `smtpUtf8`: the transaction's MAIL carries SMTPUTF8.
 */
export function addressProblem(
  command: AddressCommand,
  line: Buffer | undefined,
  parsed: string,
  smtpUtf8: boolean,
): SmtpError | undefined {
  const mail = command === "MAIL";
  const badSyntax = (why: string) =>
    permFail(553, mail ? "5.1.7" : "5.1.3", `Bad ${mail ? "sender" : "recipient"} address syntax: ${why}`);
  if (line === undefined) {
    // Without the bytes, a U+FFFD cannot be told from a replaced byte: every one is refused.
    return parsed.includes("\ufffd") || !parsed.isWellFormed() ? badSyntax("not valid UTF-8") : undefined;
  }
  const colon = line.indexOf(COLON);
  const open = line.indexOf(LT, colon + 1);
  const close = open === -1 ? -1 : line.indexOf(GT, open + 1);
  // smtp-server accepted the path, so it is there; if not, the whole line counts as address.
  const path = close === -1 ? line : line.subarray(open + 1, close);
  if (!isUtf8(path)) return badSyntax("not valid UTF-8");
  // '<' and '>' are ASCII, so a UTF-8 sequence never spans them: each side is checked alone.
  if (close !== -1 && !(isUtf8(line.subarray(0, open)) && isUtf8(line.subarray(close + 1)))) {
    return permFail(501, "5.5.4", "Syntax error in parameters: not valid UTF-8");
  }
  if (!smtpUtf8 && !isAscii(path)) {
    return permFail(mail ? 550 : 553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter on MAIL");
  }
  if (!decodedFaithfully(path.toString("utf8").replace(SOURCE_ROUTE, ""), parsed)) {
    return badSyntax("a domain label is not a valid A-label");
  }
  return undefined;
}

/** `parsed` is `exact`, or `exact` with A-labels decoded to the U-labels they encode. */
function decodedFaithfully(exact: string, parsed: string): boolean {
  if (exact === parsed) return true;
  const at = exact.lastIndexOf("@");
  const parsedAt = parsed.lastIndexOf("@");
  if (at === -1 || exact.slice(0, at) !== parsed.slice(0, parsedAt)) return false;
  const domain = exact.slice(at + 1);
  const decoded = parsed.slice(parsedAt + 1);
  // smtp-server writes an IPv6 literal in its normal form: the same address.
  if (domain.startsWith("[")) return decoded.startsWith("[");
  const labels = domain.split(".");
  const decodedLabels = decoded.split(".");
  return (
    labels.length === decodedLabels.length &&
    labels.every((label, i) => {
      const u = decodedLabels[i]!;
      return label === u || (label.startsWith("xn--") && isULabel(u) && domainToASCII(u) === label.toLowerCase());
    })
  );
}

/**
 * A U-label's hyphen rules (RFC 5891 4.2.3.1), which Node's domainToASCII does not check: no
 * hyphen first or last, none in both the third and fourth places. `xn--lsxn--ls8h` decodes to
 * "l叜sxn-", which smtp-server would refuse if sent as is (found by fuzz/targets/smtp-address.ts).
 */
function isULabel(u: string): boolean {
  return u.isWellFormed() && !u.startsWith("-") && !u.endsWith("-") && u.slice(2, 4) !== "--";
}
