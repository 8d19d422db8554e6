// What the relay does to a message before it leaves: every line ends in CRLF (so no
// "<LF>.<LF>" or "<CR>.<CR>" smuggling sequence reaches the next hop) and a Received
// header records the hop from the submitting client to us (added when the message is
// spooled, so every retry sends the same bytes).
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { receivedHeader as coreReceivedHeader } from "../../../core/received.ts";
import type { Envelope } from "../../../core/types.ts";

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from("\r\n");

/**
 * Turns every bare CR and every bare LF into CRLF; CRLF passes unchanged. A CR at the end
 * of a chunk is held until the next byte shows whether an LF follows.
 */
export class LineEndingNormalizer extends Transform {
  private pendingCr = false;

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback): void {
    const input = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (input.length === 0) return done();
    const parts: Buffer[] = [];
    let start = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      parts.push(CRLF);
      if (input[0] === LF) start = i = 1; // the held CR and this LF were one CRLF
    }
    for (; i < input.length; i++) {
      const byte = input[i];
      if (byte === CR) {
        if (i + 1 === input.length) {
          parts.push(input.subarray(start, i));
          this.pendingCr = true;
          start = input.length;
        } else if (input[i + 1] === LF) {
          i++; // a proper CRLF
        } else {
          parts.push(input.subarray(start, i), CRLF);
          start = i + 1;
        }
      } else if (byte === LF) {
        parts.push(input.subarray(start, i), CRLF);
        start = i + 1;
      }
    }
    if (start < input.length) parts.push(input.subarray(start));
    this.push(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pendingCr) this.push(CRLF);
    done();
  }
}

/** The message with bare CR and LF normalised to CRLF. */
export function normalizeLineEndings(message: Readable): Readable {
  const normalizer = new LineEndingNormalizer();
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
