// The mbox encoder (store/mbox/mboxo.ts) and its reverse, what every mbox reader does: split the
// file at `From ` lines, and (mboxo) take the `>` off each `>From ` line. Properties:
// - the stored message is one message: no line of the body starts `From `, and it ends in the
//   blank line that separates messages;
// - read back (the reverse below), it is the input: line endings made LF, the headers mbox readers
//   trust dropped (with their folds), and nothing else changed. mboxo's one ambiguity, a body line
//   sent as `>From `, reads back as `From `, so the reverse is exact for every input without one;
// - how the stream was cut in chunks changes nothing.
import assert from "node:assert/strict";
import { MboxoBody, STRIPPED_HEADERS } from "../../mailservers/inbound/store/mbox/mboxo.ts";
import { chunked, Input } from "../input.ts";

/** Runs the Transform synchronously over `chunks`: what it pushes, in order. */
function encode(chunks: readonly Buffer[]): Buffer {
  const encoder = new MboxoBody();
  const out: Buffer[] = [];
  encoder.push = (data: unknown) => {
    if (data !== null) out.push(data as Buffer);
    return true;
  };
  for (const chunk of chunks) encoder._transform(chunk, "latin1", (err) => assert.ifError(err));
  encoder._flush((err) => assert.ifError(err));
  const bytes = Buffer.concat(out);
  assert.equal(encoder.bytes, bytes.length, "bytes counts what was written");
  return bytes;
}

/** A header of `name` (lowercased) is one mbox readers trust: dropped from incoming mail. */
function stripped(name: string): boolean {
  return STRIPPED_HEADERS.some((h) => (h.endsWith("*") ? name.startsWith(h.slice(0, -1)) : name === h));
}

/**
 * What the stored message should read back as, from the input's lines alone: CRLF and LF end a
 * line (a lone CR is content), trusted headers and their folds gone, a fold before any header gone.
 */
export function expected(input: Buffer): string[] {
  const text = input.toString("latin1");
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const kept: string[] = [];
  let inHeaders = true;
  let dropping = false;
  let sawHeader = false;
  for (const line of lines) {
    if (inHeaders) {
      if (line === "") {
        inHeaders = false;
      } else if (line.startsWith(" ") || line.startsWith("\t")) {
        if (dropping || !sawHeader) continue;
      } else {
        sawHeader = true;
        // A header is named from the line's first 1024 bytes (the encoder's LINE_HEAD): up to its
        // colon, or all of them (a name padded with spaces past them is still that name).
        const start = line.slice(0, 1024);
        const colon = start.indexOf(":");
        dropping = stripped((colon === -1 ? start : start.slice(0, colon)).trim().toLowerCase());
        if (dropping) continue;
      }
    }
    kept.push(line);
  }
  return kept;
}

/** The reverse: the stored message's lines with mboxo's quoting undone (one `>` off `>From `). */
export function readBack(stored: Buffer): string[] {
  const text = stored.toString("latin1");
  // An empty message is the separating blank line alone.
  if (text === "\n") return [];
  assert.ok(text.endsWith("\n\n"), "a stored message ends in the blank line that separates messages");
  return text
    .slice(0, -2)
    .split("\n")
    .map((line) => (line.startsWith(">From ") ? line.slice(1) : line));
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const cuts = new Input(input.chunk(64));
  const message = input.rest();
  const whole = encode([message]);
  assert.deepEqual(encode(chunked(message, cuts)), whole, "the chunking changes nothing");
  const text = whole.toString("latin1");
  assert.ok(!/(^|\n)From /.test(text), "no line of a stored body starts `From `");
  const lines = expected(message);
  // A line longer than the 1024 bytes the encoder holds is judged by its start only: the same here.
  const back = readBack(whole);
  const ambiguous = lines.some((line) => line.startsWith(">From "));
  if (!ambiguous) assert.deepEqual(back, lines, "read back, the stored message is the input");
  else
    assert.deepEqual(
      back,
      lines.map((line) => (line.startsWith(">From ") ? line.slice(1) : line)),
    );
}
