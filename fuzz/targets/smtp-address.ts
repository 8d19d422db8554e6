// The MAIL FROM and RCPT TO lines: smtp-server parses them (its own code, run here as the daemons
// run it, strict), then ours judges the bytes the client sent (mailservers/core/address-bytes.ts).
// Properties of an address both accept:
// - it is what the client sent: the same local part, byte for byte, and the same domain, where an
//   A-label may have become the U-label it encodes and an IPv6 literal its normal form; so two
//   different addresses never arrive as one (and never share a folder, store/mbox/folder-name.ts);
// - it is well-formed Unicode without U+FFFD unless the client sent U+FFFD, and it is ASCII unless
//   the transaction has SMTPUTF8;
// - sent again as it was accepted, it is accepted as itself.
// A refusal is one of the replies address-bytes.ts documents.
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { BlockList, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import { type AddressCommand, addressProblem } from "../../mailservers/core/address-bytes.ts";
import { Input } from "../input.ts";

/** smtp-server's own parser, with what it reads of its connection: strict parsing, a quiet logger. */
const connection = { _server: { options: {}, logger: { error() {} } }, id: "fuzz", session: {} };
const parseAddressCommand = (
  SMTPConnection.prototype as unknown as {
    _parseAddressCommand(
      name: string,
      command: string,
    ): { address: string; args: Record<string, unknown> | false } | false;
  }
)._parseAddressCommand;

function smtpServerParse(command: AddressCommand, line: Buffer) {
  // smtp-server reads a command line as binary (latin1) and each hook's view as its UTF-8 decoding.
  return parseAddressCommand.call(connection, command === "MAIL" ? "mail from" : "rcpt to", line.toString("utf8"));
}

const REFUSALS = new Set(["553 5.1.7", "553 5.1.3", "501 5.5.4", "550 5.6.7", "553 5.6.7"]);
const SOURCE_ROUTE = /^@[^\s,:@]+(?:,@[^\s,:@]+)*:/;

function sameIpv6(a: string, b: string): boolean {
  if (!isIPv6(a) || !isIPv6(b)) return false;
  const list = new BlockList();
  list.addAddress(a, "ipv6");
  return list.check(b, "ipv6");
}

/** The label as the DNS has it: ASCII lowercased, a U-label as its A-label. */
function aLabel(label: string): string {
  return /^[\x00-\x7f]*$/.test(label) ? label.toLowerCase() : domainToASCII(label);
}

/** `exact` (the bytes sent, as text) and `parsed` name the same mailbox. */
function sameAddress(exact: string, parsed: string): boolean {
  if (exact === parsed) return true;
  const at = exact.lastIndexOf("@");
  const parsedAt = parsed.lastIndexOf("@");
  if (at === -1 || parsedAt === -1 || exact.slice(0, at) !== parsed.slice(0, parsedAt)) return false;
  const domain = exact.slice(at + 1);
  const decoded = parsed.slice(parsedAt + 1);
  const literal = /^\[IPv6:(.*)\]$/i;
  if (literal.test(domain)) return sameIpv6(literal.exec(domain)![1]!, literal.exec(decoded)?.[1] ?? "");
  const labels = domain.split(".");
  const decodedLabels = decoded.split(".");
  return (
    labels.length === decodedLabels.length &&
    labels.every((label, i) => {
      if (label === decodedLabels[i]) return true;
      const a = aLabel(label);
      return a !== "" && a === aLabel(decodedLabels[i]!);
    })
  );
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const command: AddressCommand = input.bool() ? "MAIL" : "RCPT";
  const mailHasSmtpUtf8 = input.bool();
  const rest = input.rest();
  const lf = rest.indexOf(0x0a);
  const line = lf === -1 ? rest : rest.subarray(0, lf);
  const parsed = smtpServerParse(command, line);
  if (!parsed || (command === "RCPT" && !parsed.address)) return;
  const smtpUtf8 = command === "MAIL" ? !!parsed.args && parsed.args.SMTPUTF8 === true : mailHasSmtpUtf8;
  const problem = addressProblem(command, line, parsed.address, smtpUtf8);
  if (problem) {
    assert.ok(REFUSALS.has(`${problem.responseCode} ${problem.enhancedCode}`), problem.message);
    return;
  }
  // The path as sent: between the first '<' after the colon and the next '>'.
  const colon = line.indexOf(0x3a);
  const open = line.indexOf(0x3c, colon + 1);
  const close = line.indexOf(0x3e, open + 1);
  assert.ok(open !== -1 && close !== -1, "smtp-server accepted a path in angle brackets");
  const path = line.subarray(open + 1, close);
  assert.ok(isUtf8(path), "an accepted address is valid UTF-8 as sent");
  const exact = path.toString("utf8").replace(SOURCE_ROUTE, "");
  const address = parsed.address;
  assert.ok(address.isWellFormed(), "an accepted address is well-formed Unicode");
  assert.ok(!address.includes("\ufffd") || exact.includes("\ufffd"), "no U+FFFD that was not sent");
  assert.ok(smtpUtf8 || /^[\x00-\x7f]*$/.test(exact), "non-ASCII only with SMTPUTF8");
  assert.ok(
    sameAddress(exact, address),
    `accepted as another address: sent ${JSON.stringify(exact)}, got ${JSON.stringify(address)}`,
  );
  // Sent again as accepted, it is itself.
  if (address !== "") {
    const again = Buffer.from(
      `${command === "MAIL" ? "MAIL FROM" : "RCPT TO"}:<${address}>${smtpUtf8 ? " SMTPUTF8" : ""}`,
    );
    const reparsed = smtpServerParse(command, again);
    assert.ok(reparsed, "the accepted address parses again");
    assert.equal(reparsed.address, address, "the accepted address parses as itself");
    assert.equal(addressProblem(command, again, reparsed.address, true), undefined, "and is accepted again");
  }
}
