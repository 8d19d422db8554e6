// What the store writes before each message (store/mbox/mboxo.ts messagePrefix, core/received.ts):
// the From_ line, Return-Path, Delivered-To and Received, from envelope fields the client chose
// (MAIL FROM, RCPT TO, HELO). Properties, whatever those fields hold:
// - exactly one From_ line, `From SENDER DATE`, SENDER one printable-ASCII word, DATE asctime's;
// - then header lines only (`Name: value`, or a fold starting with a tab), LF-ended, no CR: a
//   client cannot end the trace headers, start a header of its own, or start a message;
// - Return-Path holds the sender's exact characters, less the controls that could break the line.
import assert from "node:assert/strict";
import type { Envelope } from "../../mailservers/core/types.ts";
import { messagePrefix } from "../../mailservers/inbound/store/mbox/mboxo.ts";
import { Input } from "../input.ts";

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const mailFrom = input.string(80);
  const recipient = input.string(80);
  const envelope: Envelope = {
    id: input.string(20),
    session: {
      id: "s",
      remoteAddress: input.pick(["192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", input.string(40)]),
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 25,
      clientHostname: input.string(300),
      secure: input.bool(),
    },
    mailFrom,
    recipients: [recipient],
    protocol: input.pick(["SMTP", "ESMTPS", input.string(10)]),
    receivedAt: new Date(input.int(253402300799) * 1000),
  };
  const prefix = messagePrefix(envelope, recipient, input.pick(["mx.semail.test", input.string(40)])).toString("utf8");
  assert.ok(prefix.endsWith("\n") && !prefix.includes("\r"), "LF-ended lines, no CR");
  const [fromLine = "", ...headers] = prefix.slice(0, -1).split("\n");
  assert.match(
    fromLine,
    /^From [\x21-\x7e]+ (Sun|Mon|Tue|Wed|Thu|Fri|Sat) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4,}$/,
  );
  assert.ok(headers.length >= 4, "Return-Path, Delivered-To, Received (folded)");
  assert.ok(headers[0]!.startsWith("Return-Path: <") && headers[1]!.startsWith("Delivered-To: "));
  assert.ok(headers[2]!.startsWith("Received: "));
  for (const line of headers.slice(3)) assert.ok(line.startsWith("\t"), `only folds follow: ${JSON.stringify(line)}`);
  assert.equal(headers[0], `Return-Path: <${mailFrom.replace(/[\x00-\x1f\x7f]/g, "")}>`);
}
