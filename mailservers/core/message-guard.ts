// The stream a backend reads a message from. It sits between smtp-server's DATA stream
// and the backend, and:
// - normalises every line ending to CRLF: a bare LF or a bare CR ends a line like CRLF
//   does (Postfix's smtpd_forbid_bare_newline = normalize). smtp-server ends DATA only
//   at <CRLF>.<CRLF>, so the smuggling endings (<LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>,
//   <CRLF>.<LF>) stay content; after normalising they are ordinary "." lines, which a
//   relay dot-stuffs and an mbox stores as text, so no later hop can read them as an end;
// - enforces the size limit whether or not SIZE was declared (552 5.3.4);
// - refuses overlong lines and mail loops (more than N Received headers, 554 5.4.0).
// A broken limit destroys this stream with the SmtpError, before it ends, so a backend
// that keeps nothing on a stream error stores nothing.
import { Transform, type TransformCallback } from "node:stream";
import { permFail } from "./types.ts";

const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from("\r\n");
const RECEIVED = "received:";

export interface MessageGuardLimits {
  /** Bytes after normalisation; more is 552 5.3.4. */
  readonly maxMessageSize: number;
  /** Bytes in one line without its ending; more is 554 5.6.0. */
  readonly maxLineLength: number;
  /** Received headers allowed; more is a loop, 554 5.4.0. */
  readonly maxReceivedHeaders: number;
}

export class MessageGuard extends Transform {
  readonly #limits: MessageGuardLimits;
  /** Bytes passed on so far. */
  bytes = 0;
  /** Received headers seen so far. */
  receivedHeaders = 0;
  #lineLength = 0;
  #inHeaders = true;
  #prefix = "";
  /** The previous chunk ended in CR: a leading LF belongs to it. */
  #skipLF = false;

  constructor(limits: MessageGuardLimits) {
    super();
    this.#limits = limits;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // CRLF lines pass through as they are; only a bare CR or LF is cut out and replaced,
    // so ordinary mail is passed on without copying.
    let parts: Buffer[] | undefined;
    let start = 0;
    const n = chunk.length;
    let i = 0;
    if (this.#skipLF) {
      this.#skipLF = false;
      if (n > 0 && chunk[0] === LF) start = i = 1;
    }
    const rewrite = (at: number, next: number) => {
      parts ??= [];
      if (at > start) parts.push(chunk.subarray(start, at));
      parts.push(CRLF);
      start = next;
    };
    // Jump from line end to line end (indexOf is memchr); the bytes between are one line's.
    let nextCR = chunk.indexOf(CR, i);
    while (i < n) {
      if (nextCR !== -1 && nextCR < i) nextCR = chunk.indexOf(CR, i);
      const nextLF = chunk.indexOf(LF, i);
      const end = Math.min(nextLF === -1 ? n : nextLF, nextCR === -1 ? n : nextCR);
      const problem = this.#lineBytes(chunk, i, end);
      if (problem) return callback(problem);
      if (end === n) break;
      if (chunk[end] === LF) rewrite(end, end + 1);
      else if (end + 1 === n) {
        // A CR ends the chunk: end the line now and drop an LF that starts the next.
        rewrite(end, end + 1);
        this.#skipLF = true;
      } else if (chunk[end + 1] !== LF) rewrite(end, end + 1);
      const ended = this.#endLine();
      if (ended) return callback(ended);
      i = chunk[end] === CR && chunk[end + 1] === LF ? end + 2 : end + 1;
    }
    let out: Buffer;
    if (parts) {
      if (start < n) parts.push(chunk.subarray(start));
      out = Buffer.concat(parts);
    } else out = start === 0 ? chunk : chunk.subarray(start);
    this.bytes += out.length;
    if (this.bytes > this.#limits.maxMessageSize) {
      return callback(permFail(552, "5.3.4", `Message too big: the limit is ${this.#limits.maxMessageSize} bytes`));
    }
    callback(null, out);
  }

  /** Bytes [from, to) of `chunk` continue the current line. Returns the refusal, if any. */
  #lineBytes(chunk: Buffer, from: number, to: number): Error | undefined {
    if (this.#inHeaders) {
      for (let j = from; j < to && this.#prefix.length < RECEIVED.length; j++)
        this.#prefix += String.fromCharCode(chunk[j]! | 0x20);
    }
    this.#lineLength += to - from;
    if (this.#lineLength > this.#limits.maxLineLength) {
      return permFail(554, "5.6.0", `Message has a line longer than ${this.#limits.maxLineLength} bytes`);
    }
    return undefined;
  }

  /** A line ended: header bookkeeping. Returns the refusal, if any. */
  #endLine(): Error | undefined {
    if (this.#inHeaders) {
      if (this.#lineLength === 0) this.#inHeaders = false;
      else if (this.#prefix === RECEIVED && ++this.receivedHeaders > this.#limits.maxReceivedHeaders) {
        return permFail(
          554,
          "5.4.0",
          `Too many Received headers (more than ${this.#limits.maxReceivedHeaders}): mail loop`,
        );
      }
    }
    this.#lineLength = 0;
    this.#prefix = "";
    return undefined;
  }
}
