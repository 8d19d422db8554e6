// A message's bytes as they go on the wire, a buffer at a time: every line ends in CRLF (a
// bare CR or bare LF becomes one, so no "<LF>.<LF>" smuggling sequence reaches the next
// hop), and for DATA (RFC 5321 4.5.2) a "." that starts a line is doubled and the data ends
// with "<CRLF>.<CRLF>". Line ends are found with indexOf (memchr), so a chunk of CRLF lines
// without leading dots is passed on as it is, uncopied.
import { Transform, type TransformCallback } from "node:stream";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from("\r\n");
const DOT_BYTE = Buffer.from(".");
const END_AT_LINE_START = Buffer.from(".\r\n");
const END_MID_LINE = Buffer.from("\r\n.\r\n");

/** What a chunk leaves for the next one. */
interface LineState {
  /** The next byte starts a line (true before the first byte). */
  atLineStart: boolean;
  /** The last chunk ended in a CR, not yet written: an LF starting the next chunk belongs to it. */
  heldCr: boolean;
}

/** One chunk in wire form: the slices of `chunk` between the bytes inserted. Moves `state` on. */
function encodeChunk(chunk: Buffer, state: LineState, dotStuff: boolean): Buffer[] {
  const parts: Buffer[] = [];
  const n = chunk.length;
  let start = 0; // first byte of `chunk` not yet in `parts`
  let i = 0;
  if (state.heldCr) {
    state.heldCr = false;
    parts.push(CRLF);
    if (n > 0 && chunk[0] === LF) start = i = 1;
  }
  let nextCr = -2; // -2: not searched yet
  for (let guard = 0; guard <= n; guard++) {
    if (i === n) break;
    if (state.atLineStart) {
      state.atLineStart = false;
      if (dotStuff && chunk[i] === DOT) {
        // The dot is written twice: once here, once with the rest of the line.
        if (i > start) parts.push(chunk.subarray(start, i));
        parts.push(DOT_BYTE);
        start = i;
      }
    }
    if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(CR, i);
    const nextLf = chunk.indexOf(LF, i);
    const end = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
    if (end === -1) break;
    state.atLineStart = true;
    if (chunk[end] === LF) {
      // A bare LF: a CR before it would have been found first.
      if (end > start) parts.push(chunk.subarray(start, end));
      parts.push(CRLF);
      start = i = end + 1;
    } else if (end + 1 === n) {
      // A CR ends the chunk: whether it is bare shows in the next one.
      if (end > start) parts.push(chunk.subarray(start, end));
      state.heldCr = true;
      start = i = n;
    } else if (chunk[end + 1] === LF) {
      i = end + 2; // CRLF: nothing to change
    } else {
      if (end > start) parts.push(chunk.subarray(start, end));
      parts.push(CRLF);
      start = i = end + 1;
    }
  }
  if (start < n) parts.push(start === 0 ? chunk : chunk.subarray(start));
  return parts;
}

/** Base of both streams: counts bytes in and out as nodemailer's DataStream does. */
abstract class WireLines extends Transform {
  readonly #state: LineState = { atLineStart: true, heldCr: false };
  readonly #dotStuff: boolean;
  inByteCount = 0;
  outByteCount = 0;

  constructor(dotStuff: boolean) {
    super();
    this.#dotStuff = dotStuff;
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback): void {
    const input = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (input.length === 0) return done();
    this.inByteCount += input.length;
    const parts = encodeChunk(input, this.#state, this.#dotStuff);
    if (parts.length > 0) this.#out(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    done();
  }

  /** Writes a CR held back at the end as CRLF; true when the output then ends at a line start. */
  protected finishLines(): boolean {
    if (this.#state.heldCr) {
      this.#state.heldCr = false;
      this.#state.atLineStart = true;
      this.#out(CRLF);
    }
    return this.#state.atLineStart;
  }

  protected out(bytes: Buffer): void {
    this.#out(bytes);
  }

  #out(bytes: Buffer): void {
    this.outByteCount += bytes.length;
    this.push(bytes);
  }
}

/**
 * The DATA stream: CRLF lines, dot-stuffed, ended by "." on a line of its own (after a CRLF
 * when the message does not end in one; an empty message is the "." line alone).
 */
export class DataEncoder extends WireLines {
  constructor() {
    super(true);
  }

  override _flush(done: TransformCallback): void {
    this.out(this.finishLines() ? END_AT_LINE_START : END_MID_LINE);
    done();
  }
}

/** The message with every bare CR and bare LF made CRLF, and nothing else changed. */
export class CrlfLines extends WireLines {
  constructor() {
    super(false);
  }

  override _flush(done: TransformCallback): void {
    this.finishLines();
    done();
  }
}
