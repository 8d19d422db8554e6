// The DATA stream guard (mailservers/core/message-guard.ts): every line ending made CRLF, the size,
// line-length and Received-count limits. Properties, against a model that reads the whole message:
// - accepted, the output is the input with every CRLF, bare LF and bare CR made one CRLF, however
//   the stream was cut in chunks, and no limit is broken;
// - refused, the limit named is broken by the message, and what was passed on before is a prefix
//   of the accepted output (a backend that keeps nothing on error keeps nothing).
import assert from "node:assert/strict";
import { MessageGuard, type MessageGuardLimits } from "../../mailservers/core/message-guard.ts";
import type { SmtpError } from "../../mailservers/core/types.ts";
import { chunked, Input } from "../input.ts";

interface Outcome {
  readonly out: Buffer;
  readonly error?: SmtpError;
}

function guard(chunks: readonly Buffer[], limits: MessageGuardLimits): Outcome {
  const stream = new MessageGuard(limits);
  const out: Buffer[] = [];
  let error: SmtpError | undefined;
  for (const chunk of chunks) {
    stream._transform(chunk, "latin1", (err, data) => {
      if (err) error = err as SmtpError;
      else if (data) out.push(data as Buffer);
    });
    if (error) break;
  }
  return { out: Buffer.concat(out), ...(error ? { error } : {}) };
}

/** The message's lines (without endings) and the normalised bytes. */
function model(message: Buffer) {
  const text = message.toString("latin1");
  const normalised = Buffer.from(text.replace(/\r\n|\r|\n/g, "\r\n"), "latin1");
  const lines = text.split(/\r\n|\r|\n/);
  let received = 0;
  const headerEnd = lines.indexOf("");
  // A line counts as Received when its first 9 bytes, each OR 0x20, read "received:" (the guard's fold).
  for (const line of headerEnd === -1 ? lines.slice(0, -1) : lines.slice(0, headerEnd)) {
    const folded = [...line.slice(0, 9)].map((c) => String.fromCharCode(c.charCodeAt(0) | 0x20)).join("");
    if (folded === "received:") received++;
  }
  const longest = Math.max(...lines.map((l) => l.length));
  return { normalised, received, longest };
}

export function fuzz(data: Buffer): void {
  const input = new Input(data);
  const limits: MessageGuardLimits = {
    maxMessageSize: 1 + input.int(4096),
    maxLineLength: 1 + input.int(1024),
    maxReceivedHeaders: input.int(4),
  };
  const cuts = new Input(input.chunk(64));
  const message = input.rest();
  const m = model(message);
  const whole = guard([message], limits);
  const parts = guard(chunked(message, cuts), limits);
  for (const run of [whole, parts]) {
    if (!run.error) {
      assert.deepEqual(run.out, m.normalised, "accepted: the input with every line ending made CRLF");
      assert.ok(m.normalised.length <= limits.maxMessageSize, "accepted: within the size limit");
      assert.ok(m.longest <= limits.maxLineLength, "accepted: no line over the limit");
      assert.ok(m.received <= limits.maxReceivedHeaders, "accepted: not a loop");
      continue;
    }
    assert.ok(m.normalised.subarray(0, run.out.length).equals(run.out), "refused: what passed is a prefix");
    const { responseCode, message: reply } = run.error;
    if (responseCode === 552) assert.ok(m.normalised.length > limits.maxMessageSize, reply);
    else if (reply.includes("5.6.0")) assert.ok(m.longest > limits.maxLineLength, reply);
    else if (reply.includes("5.4.0")) assert.ok(m.received > limits.maxReceivedHeaders, reply);
    else assert.fail(`an unexpected refusal: ${responseCode} ${reply}`);
  }
  // A message the model accepts is accepted however it is cut.
  const fits =
    m.normalised.length <= limits.maxMessageSize &&
    m.longest <= limits.maxLineLength &&
    m.received <= limits.maxReceivedHeaders;
  assert.equal(!whole.error, fits, "accepted exactly when no limit is broken");
  assert.equal(!parts.error, fits, "accepted exactly when no limit is broken, in chunks");
}
