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
    const parts: Buffer[] = [];
    let start = 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i]!;
      if (this.#skipLF) {
        this.#skipLF = false;
        if (b === LF) {
          start = i + 1;
          continue;
        }
      }
      if (b === CR || b === LF) {
        if (i > start) parts.push(chunk.subarray(start, i));
        parts.push(CRLF);
        const problem = this.#endLine();
        if (problem) return callback(problem);
        if (b === CR) {
          if (i + 1 < n) {
            if (chunk[i + 1] === LF) i++;
          } else this.#skipLF = true;
        }
        start = i + 1;
        continue;
      }
      this.#lineLength++;
      if (this.#inHeaders && this.#prefix.length < RECEIVED.length) this.#prefix += String.fromCharCode(b | 0x20);
      if (this.#lineLength > this.#limits.maxLineLength) {
        return callback(permFail(554, "5.6.0", `Message has a line longer than ${this.#limits.maxLineLength} bytes`));
      }
    }
    if (start < n) parts.push(chunk.subarray(start));
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.bytes += out.length;
    if (this.bytes > this.#limits.maxMessageSize) {
      return callback(permFail(552, "5.3.4", `Message too big: the limit is ${this.#limits.maxMessageSize} bytes`));
    }
    callback(null, out);
  }

  /** A line ended: header bookkeeping. Returns the refusal, if any. */
  #endLine(): Error | undefined {
    if (this.#inHeaders) {
      if (this.#lineLength === 0) this.#inHeaders = false;
      else if (this.#prefix === RECEIVED && ++this.receivedHeaders > this.#limits.maxReceivedHeaders) {
        return permFail(554, "5.4.0", `Too many Received headers (more than ${this.#limits.maxReceivedHeaders}): mail loop`);
      }
    }
    this.#lineLength = 0;
    this.#prefix = "";
    return undefined;
  }
}
