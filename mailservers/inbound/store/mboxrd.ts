// The mboxrd body of a message (what follows our trace headers in the file), produced
// chunk by chunk while the message streams in: LF line endings, mboxrd From-quoting,
// headers that mbox readers trust removed, and one blank line after the message.
//
// Headers go line by line (few, short, and each one decides what follows). The body,
// most of the bytes, takes a faster path: each line is copied once into one output
// buffer per chunk, without its CR, with a ">" in front when it reads ">*From ".
import { receivedHeader } from "../../core/received.ts";
import type { Envelope } from "../../core/types.ts";

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
/** A line start this long decides quoting and header names; longer lines pass through. */
const LINE_HEAD = 1024;

/**
 * Headers dropped from incoming mail, with their folded continuation lines: Dovecot,
 * mutt and other mbox readers trust them (message length, flags, IMAP UIDs), so a sender
 * must not be able to set them.
 */
export const STRIPPED_HEADERS: readonly string[] = ["content-length", "status", "x-status", "x-imap*", "x-uid", "x-keywords"];
const STRIPPED = new Set(STRIPPED_HEADERS);

const NEW_LINE = Buffer.from("\n");
const QUOTE = Buffer.from(">");
const CR_BYTE = Buffer.from([CR]);
const FROM_SPACE = Buffer.from("From ");

/** `>*From ` at the start of `line`: mboxrd quotes it with one more `>`. */
function isFromLine(line: Buffer): boolean {
  let at = 0;
  while (line[at] === GT) at++;
  // "From " byte by byte: cheaper than a native call for every line.
  return line[at] === 0x46 && line[at + 1] === 0x72 && line[at + 2] === 0x6f && line[at + 3] === 0x6d && line[at + 4] === 0x20;
}

/**
 * Whether the line starting at `start` (ending before `end`, its LF or the chunk's end)
 * reads `>*From ` within its first LINE_HEAD bytes: true, false, or undefined when the
 * chunk ends before that can be told.
 */
function quoteAt(chunk: Buffer, start: number, end: number, lineEnded: boolean): boolean | undefined {
  const limit = Math.min(end, start + LINE_HEAD);
  let at = start;
  while (at < limit && chunk[at] === GT) at++;
  for (let i = 0; i < FROM_SPACE.length; i++, at++) {
    if (at >= limit) return lineEnded || limit === start + LINE_HEAD ? false : undefined;
    if (chunk[at] !== FROM_SPACE[i]) return false;
  }
  return true;
}

/** Streams a message into its mboxrd body: `push` each chunk, then `end`; each returns the bytes to store. */
export class MboxrdBody {
  /** Bytes returned so far. */
  bytes = 0;
  #inHeaders = true;
  /** Dropping a stripped header and its continuation lines. */
  #dropping = false;
  #sawHeader = false;
  /** Headers: start of the current line, not yet decided. */
  #head: Buffer[] = [];
  #headLength = 0;
  /** Headers: the current line was decided (kept or dropped): pass bytes to LF. */
  #midLine = false;
  #midLineDropped = false;
  /** Body: the start of a line whose quoting the last chunk could not decide yet. */
  #carry: Buffer | undefined;
  /** Body: the last chunk ended inside a line whose quoting is decided. */
  #bodyMidLine = false;
  /** A CR ended the last chunk: dropped if an LF follows. */
  #pendingCR = false;
  /** The last byte returned was LF (or nothing was returned). */
  #lastLF = true;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.#pendingCR) {
      this.#pendingCR = false;
      if (chunk[0] !== LF) this.#emitCR(out);
    }
    let start = 0;
    const n = chunk.length;
    if (n > 0 && chunk[n - 1] === CR) {
      this.#pendingCR = true;
      chunk = chunk.subarray(0, n - 1);
    }
    if (this.#inHeaders) start = this.#headers(chunk, out);
    if (!this.#inHeaders && start < chunk.length) this.#body(start === 0 ? chunk : chunk.subarray(start), out);
    return this.#returned(out);
  }

  end(): Buffer[] {
    const out: Buffer[] = [];
    if (this.#pendingCR) {
      this.#pendingCR = false;
      this.#emitCR(out);
    }
    if (this.#inHeaders) {
      if (this.#midLine || this.#headLength > 0) this.#endHeaderLine(out);
    } else if (this.#carry) {
      const carry = this.#carry;
      this.#carry = undefined;
      if (quoteAt(carry, 0, carry.length, true)) out.push(QUOTE);
      out.push(carry, NEW_LINE);
    } else if (this.#bodyMidLine) out.push(NEW_LINE);
    this.#bodyMidLine = false;
    // A message ends with a line ending, then the blank line that separates messages.
    const returned = this.#returned(out);
    const ending = this.#lastLF ? [NEW_LINE] : [NEW_LINE, NEW_LINE];
    this.bytes += ending.length;
    this.#lastLF = true;
    return [...returned, ...ending];
  }

  /** Counts what `out` returns and remembers whether it ended a line. */
  #returned(out: Buffer[]): Buffer[] {
    let length = 0;
    for (const part of out) length += part.length;
    if (length === 0) return [];
    this.bytes += length;
    for (let i = out.length - 1; i >= 0; i--) {
      const part = out[i]!;
      if (part.length === 0) continue;
      this.#lastLF = part[part.length - 1] === LF;
      break;
    }
    return out;
  }

  /** A CR that turned out not to precede an LF: part of the current line. */
  #emitCR(out: Buffer[]): void {
    if (this.#inHeaders) this.#feed(CR_BYTE, out);
    else this.#body(CR_BYTE, out);
  }

  /** Header lines of `chunk` until the blank line that ends them; returns where the body starts. */
  #headers(chunk: Buffer, out: Buffer[]): number {
    let start = 0;
    const n = chunk.length;
    while (start < n && this.#inHeaders) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.#feed(chunk.subarray(start), out);
        return n;
      }
      const end = lf > start && chunk[lf - 1] === CR ? lf - 1 : lf;
      if (end > start) this.#feed(chunk.subarray(start, end), out);
      this.#endHeaderLine(out);
      start = lf + 1;
    }
    return start;
  }

  /** Bytes of the current header line, without its ending. */
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
    if (head.length === 0) {
      // The blank line: the body follows.
      this.#inHeaders = false;
      this.#dropping = false;
    } else if (head[0] === 0x20 || head[0] === 0x09) {
      // A fold before any header would continue our Received header: drop it too.
      if (this.#dropping || !this.#sawHeader) return true;
    } else {
      this.#sawHeader = true;
      const colon = head.indexOf(0x3a);
      const name = colon === -1 ? "" : head.subarray(0, colon).toString("latin1").trim().toLowerCase();
      this.#dropping = STRIPPED.has(name) || name.startsWith("x-imap");
      if (this.#dropping) return true;
    }
    if (isFromLine(head)) out.push(QUOTE);
    out.push(head);
    return false;
  }

  #endHeaderLine(out: Buffer[]): void {
    const dropped = this.#midLine ? this.#midLineDropped : this.#decide(out);
    this.#midLine = false;
    this.#midLineDropped = false;
    if (!dropped) out.push(NEW_LINE);
  }

  /**
   * Body bytes: every line copied once into one buffer, CR before LF dropped, ">" added
   * before ">*From ". A line start the chunk cuts too short to decide is carried over.
   */
  #body(part: Buffer, out: Buffer[]): void {
    let chunk = part;
    let midLine = this.#bodyMidLine;
    if (this.#carry) {
      chunk = Buffer.concat([this.#carry, part]);
      this.#carry = undefined;
      midLine = false;
    }
    const n = chunk.length;
    // Room for every byte and a few quotes; grown in the rare chunk with more.
    let buffer = Buffer.allocUnsafe(n + 8);
    let at = 0;
    const room = (extra: number) => {
      if (at + extra <= buffer.length) return;
      const grown = Buffer.allocUnsafe(buffer.length * 2 + extra);
      buffer.copy(grown, 0, 0, at);
      buffer = grown;
    };
    let start = 0;
    while (start < n) {
      const lf = chunk.indexOf(LF, start);
      const lineEnded = lf !== -1;
      const stop = lineEnded ? lf : n;
      if (!midLine) {
        const quote = quoteAt(chunk, start, stop, lineEnded);
        if (quote === undefined) {
          this.#carry = Buffer.from(chunk.subarray(start));
          break;
        }
        if (quote) {
          room(1);
          buffer[at++] = GT;
        }
      }
      const end = lineEnded && lf > start && chunk[lf - 1] === CR ? lf - 1 : stop;
      room(end - start + 1);
      at += chunk.copy(buffer, at, start, end);
      if (!lineEnded) {
        midLine = true;
        break;
      }
      buffer[at++] = LF;
      midLine = false;
      start = lf + 1;
    }
    this.#bodyMidLine = this.#carry === undefined && midLine;
    if (at > 0) out.push(buffer.subarray(0, at));
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
  return `${day} ${month} ${String(date.getUTCDate()).padStart(2, " ")} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} ${date.getUTCFullYear()}`;
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
