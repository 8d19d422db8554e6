// What the relay does to a message before it leaves: every line ends in CRLF before a DKIM
// signer reads it (the DATA encoder makes the same lines on the wire, so the signature covers
// the bytes sent) and a Received header records the hop from the submitting client to us
// (added when the message is spooled, so every retry sends the same bytes).
import type { Readable } from "node:stream";
import { receivedHeader as coreReceivedHeader } from "../../../core/received.ts";
import type { Envelope } from "../../../core/types.ts";
import { CrlfLines } from "./data-encoding.ts";

/** The message with bare CR and LF normalised to CRLF. */
export function normalizeLineEndings(message: Readable): Readable {
  const normalizer = new CrlfLines();
  message.on("error", (err) => normalizer.destroy(err));
  return message.pipe(normalizer);
}

/**
 * The Received header (RFC 5321 4.4) for the hop from the submitting client to us, ending
 * in CRLF: the core's builder, shared with inbound. The recipient is named only when
 * there is exactly one, so a copy does not reveal its Bcc list.
 */
export function receivedHeader(envelope: Envelope, byName: string): string {
  const recipient = envelope.recipients.length === 1 ? envelope.recipients[0] : undefined;
  return coreReceivedHeader({ envelope, hostname: byName, ...(recipient === undefined ? {} : { recipient }) });
}
