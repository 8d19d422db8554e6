// The mboxo body of a message (what follows our trace headers in the file), produced
// while streaming: LF line endings, a `>` before each line that begins `From ` and before
// no other, headers that mbox readers trust removed, and one blank line after the message.
//
// mboxo, not mboxrd: no reader shipped (mutt, neomutt, Dovecot and so Roundcube, Python's
// mailbox) undoes quoting, so mboxrd's extra `>` on `>From ` lines showed everywhere. With
// mboxo a line sent as `>From x` shows as sent; only a line sent as `From x` shows as
// `>From x`, in every reader (docs/reference.md, "Receiving"; tests/services/imap/mbox-readers.test.ts).
// Unquoted bodies with Content-Length (mboxcl2) would show that line too, but a reader that
// ignores Content-Length (Python's, or any once the length is stale) would then split the
// message where the sender chose.
import { Transform, type TransformCallback } from "node:stream";
import { receivedHeader } from "../../../core/received.ts";
import type { Envelope } from "../../../core/types.ts";

const LF = 0x0a;
const CR = 0x0d;
/** A line start this long decides quoting and header names; longer lines pass through. */
const LINE_HEAD = 1024;

/**
 * Headers dropped from incoming mail, with their folded continuation lines: Dovecot,
 * mutt and other mbox readers trust them (message length, flags, IMAP UIDs), so a sender
 * must not be able to set them.
 */
export const STRIPPED_HEADERS: readonly string[] = [
  "content-length",
  "status",
  "x-status",
  "x-imap*",
  "x-uid",
  "x-keywords",
];
const STRIPPED = new Set(STRIPPED_HEADERS);

const NEW_LINE = Buffer.from("\n");
const QUOTE = Buffer.from(">");

/** `From ` at the start of `line` (not `>From `): mboxo quotes it with a `>`. */
function isFromLine(line: Buffer): boolean {
  // "From " byte by byte: cheaper than a native call for every line.
  return line[0] === 0x46 && line[1] === 0x72 && line[2] === 0x6f && line[3] === 0x6d && line[4] === 0x20;
}

export class MboxoBody extends Transform {
  /** Bytes written out so far. */
  bytes = 0;
  #inHeaders = true;
  /** Dropping a stripped header and its continuation lines. */
  #dropping = false;
  #sawHeader = false;
  /** Start of the current line, not yet decided. */
  #head: Buffer[] = [];
  #headLength = 0;
  /** The current line was decided (quoted or not, kept or dropped): pass bytes to LF. */
  #midLine = false;
  #midLineDropped = false;
  /** A CR ended the last chunk: dropped if an LF follows. */
  #pendingCR = false;
  /** The last byte written was LF (or nothing was written). */
  #lastLF = true;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    let start = 0;
    const n = chunk.length;
    if (this.#pendingCR) {
      this.#pendingCR = false;
      if (chunk[0] !== LF) this.#feed(Buffer.from([CR]), out);
    }
    while (start < n) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        let end = n;
        if (chunk[n - 1] === CR) {
          this.#pendingCR = true;
          end = n - 1;
        }
        if (end > start) this.#feed(chunk.subarray(start, end), out);
        break;
      }
      const end = lf > start && chunk[lf - 1] === CR ? lf - 1 : lf;
      if (end > start) this.#feed(chunk.subarray(start, end), out);
      this.#endLine(out);
      start = lf + 1;
    }
    this.#push(out);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const out: Buffer[] = [];
    if (this.#pendingCR) this.#feed(Buffer.from([CR]), out);
    if (this.#midLine || this.#headLength > 0) this.#endLine(out);
    // A message ends with a line ending, then the blank line that separates messages.
    if (!this.#lastLF) out.push(NEW_LINE);
    out.push(NEW_LINE);
    this.#push(out);
    callback();
  }

  #push(out: Buffer[]): void {
    if (out.length === 0) return;
    const data = out.length === 1 ? out[0]! : Buffer.concat(out);
    if (data.length === 0) return;
    this.bytes += data.length;
    this.#lastLF = data[data.length - 1] === LF;
    this.push(data);
  }

  /** Bytes of the current line, without its ending. */
  #feed(part: Buffer, out: Buffer[]): void {
    if (this.#midLine) {
      if (!this.#midLineDropped) out.push(part);
      return;
    }
    this.#head.push(part);
    this.#headLength += part.length;
    if (this.#headLength >= LINE_HEAD) {
      const dropped = this.#decide(out);
      this.#midLine = true;
      this.#midLineDropped = dropped;
    }
  }

  /** Emits the held line start, quoted if needed; returns true when the line is dropped. */
  #decide(out: Buffer[]): boolean {
    const head = this.#head.length === 1 ? this.#head[0]! : Buffer.concat(this.#head);
    this.#head = [];
    this.#headLength = 0;
    if (this.#inHeaders) {
      if (head.length === 0) {
        this.#inHeaders = false;
        this.#dropping = false;
      } else if (head[0] === 0x20 || head[0] === 0x09) {
        // A fold before any header would continue our Received header: drop it too.
        if (this.#dropping || !this.#sawHeader) return true;
      } else {
        this.#sawHeader = true;
        // Named from the line's first LINE_HEAD bytes however the chunks cut it, so a name padded
        // with spaces past them (before its colon) is still that name (a regression input of
        // fuzz/targets/mboxo.ts).
        const start = head.subarray(0, LINE_HEAD);
        const colon = start.indexOf(0x3a);
        const name = (colon === -1 ? start : start.subarray(0, colon)).toString("latin1").trim().toLowerCase();
        this.#dropping = STRIPPED.has(name) || name.startsWith("x-imap");
        if (this.#dropping) return true;
      }
    }
    if (isFromLine(head)) out.push(QUOTE);
    out.push(head);
    return false;
  }

  #endLine(out: Buffer[]): void {
    const dropped = this.#midLine ? this.#midLineDropped : this.#decide(out);
    this.#midLine = false;
    this.#midLineDropped = false;
    if (!dropped) out.push(NEW_LINE);
  }
}

/**
 * Envelope sender as it appears in the From_ line: MAILER-DAEMON for <>, printable ASCII
 * only (Python's mailbox decodes the line as ASCII; mutt splits it at spaces), so spaces
 * and controls become "_" and other characters "?". Return-Path keeps the exact address.
 */
function fromLineSender(sender: string): string {
  if (sender === "") return "MAILER-DAEMON";
  return sender.replace(/[\s\x00-\x1f\x7f]/g, "_").replace(/[^\x21-\x7e]/gu, "?");
}

/** C asctime(3) in UTC, as mbox From_ lines carry it: "Tue Nov 24 00:05:00 2026". */
export function asctime(date: Date): string {
  const [day, month] = [date.toUTCString().slice(0, 3), date.toUTCString().slice(8, 11)];
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${day} ${month} ${String(date.getUTCDate()).padStart(2, " ")} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()}`
  );
}

/** Header values from the envelope: strip anything that could end or fold the header. */
function headerSafe(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, "");
}

/**
 * What goes before the body for one recipient: the From_ line, then Return-Path,
 * Delivered-To and our Received header (LF endings).
 */
export function messagePrefix(envelope: Envelope, recipient: string, hostname: string): Buffer {
  const text =
    `From ${fromLineSender(envelope.mailFrom)} ${asctime(envelope.receivedAt)}\n` +
    `Return-Path: <${headerSafe(envelope.mailFrom)}>\n` +
    `Delivered-To: ${headerSafe(recipient)}\n` +
    receivedHeader({ envelope, hostname, recipient, eol: "\n" });
  return Buffer.from(text, "utf8");
}
