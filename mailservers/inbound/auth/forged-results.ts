// Authentication-Results fields that claim our authserv-id, removed from an arriving message
// (RFC 8601 section 5: a receiver must not let a sender forge its verdicts). Every other byte
// passes as it came: the header section is read line by line, an Authentication-Results
// field (with its folded lines) is held only until its authserv-id is known, and the body
// is not looked at.
import { Transform, type TransformCallback } from "node:stream";

const LF = 0x0a;
const FIELD_NAME = "authentication-results";
/** A held field longer than this is decided on what it has (the authserv-id comes first). */
const MAX_HELD = 64 * 1024;

/**
 * The authserv-id of an Authentication-Results field (its whole text, name included), lowercased,
 * or undefined while the text so far does not finish it. `complete`: the field has no more lines.
 */
export function authservId(field: string, complete: boolean): string | undefined {
  let i = field.indexOf(":") + 1;
  // CFWS: white space, line folds and (nested) comments.
  let depth = 0;
  for (; i < field.length; i++) {
    const c = field[i]!;
    if (c === "(") depth++;
    else if (c === ")" && depth > 0) depth--;
    else if (c === "\\" && depth > 0) i++;
    else if (depth === 0 && !/[ \t\r\n]/.test(c)) break;
  }
  if (i >= field.length) return complete ? "" : undefined;
  if (field[i] === '"') {
    let id = "";
    for (i++; i < field.length; i++) {
      const c = field[i]!;
      if (c === '"') return id.toLowerCase();
      if (c === "\\") i++;
      if (i < field.length) id += field[i];
    }
    return complete ? id.toLowerCase() : undefined;
  }
  const token = /^[^\s;()"]*/.exec(field.slice(i))![0];
  const ended = i + token.length < field.length;
  return ended || complete ? token.toLowerCase() : undefined;
}

function isFieldNamed(line: Buffer, name: string): boolean {
  if (line.length <= name.length) return false;
  const colon = line.indexOf(0x3a);
  if (colon < 0) return false;
  // The name, then optional white space before the colon (obsolete syntax, still seen).
  return line.toString("latin1", 0, colon).trimEnd().toLowerCase() === name;
}

/** Drops each Authentication-Results field of the header section whose authserv-id is `ours`. */
export class ForgedResultsFilter extends Transform {
  /** Fields removed so far. */
  removed = 0;
  readonly #ours: string;
  #inHeaders = true;
  /** Start of a line not yet ended by LF. */
  #partial: Buffer[] = [];
  /** An Authentication-Results field not yet decided, its lines so far. */
  #held: Buffer[] | undefined;
  #heldLength = 0;
  /** The current field was decided: its folded lines are dropped (true) or passed (false). */
  #dropping = false;

  constructor(ours: string) {
    super();
    this.#ours = ours.toLowerCase();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#inHeaders) {
      callback(null, chunk);
      return;
    }
    const out: Buffer[] = [];
    let start = 0;
    while (this.#inHeaders) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        if (start < chunk.length) this.#partial.push(chunk.subarray(start));
        break;
      }
      this.#partial.push(chunk.subarray(start, lf + 1));
      const line = this.#partial.length === 1 ? this.#partial[0]! : Buffer.concat(this.#partial);
      this.#partial = [];
      this.#line(line, out);
      start = lf + 1;
    }
    if (!this.#inHeaders && start < chunk.length) out.push(chunk.subarray(start));
    this.#emit(out, callback);
  }

  override _flush(callback: TransformCallback): void {
    const out: Buffer[] = [];
    if (this.#partial.length > 0) {
      const rest = Buffer.concat(this.#partial);
      this.#partial = [];
      if (this.#inHeaders) this.#line(rest, out);
      else out.push(rest);
    }
    this.#decide(true, out);
    this.#emit(out, callback);
  }

  #emit(out: Buffer[], callback: TransformCallback): void {
    if (out.length === 0) callback();
    else callback(null, out.length === 1 ? out[0] : Buffer.concat(out));
  }

  /** One whole header-section line, LF included. */
  #line(line: Buffer, out: Buffer[]): void {
    const folded = line[0] === 0x20 || line[0] === 0x09;
    if (folded) {
      if (this.#held) {
        this.#held.push(line);
        this.#heldLength += line.length;
        this.#decide(false, out);
      } else if (!this.#dropping) out.push(line);
      return;
    }
    this.#decide(true, out);
    this.#dropping = false;
    if (line.length <= 2 && (line[0] === LF || (line[0] === 0x0d && line[1] === LF))) {
      this.#inHeaders = false;
      out.push(line);
      return;
    }
    if (isFieldNamed(line, FIELD_NAME)) {
      this.#held = [line];
      this.#heldLength = line.length;
      this.#decide(false, out);
    } else out.push(line);
  }

  /** Decides the held field if its authserv-id is known (always when `complete`). */
  #decide(complete: boolean, out: Buffer[]): void {
    if (!this.#held) return;
    const whole = complete || this.#heldLength > MAX_HELD;
    const id = authservId(Buffer.concat(this.#held).toString("latin1"), whole);
    if (id === undefined) return;
    if (id === this.#ours) {
      this.removed++;
      this.#dropping = true;
    } else out.push(...this.#held);
    this.#held = undefined;
    this.#heldLength = 0;
  }
}
