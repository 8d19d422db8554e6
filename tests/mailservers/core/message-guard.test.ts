// MessageGuard's line-ending normalisation against a one-line reference, for a message
// cut into two chunks at every possible place (the CRLF fast path must not miss a bare CR
// or LF at a chunk edge), and its refusals.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, it } from "node:test";
import { MessageGuard } from "../../../mailservers/core/message-guard.ts";
import type { SmtpError } from "../../../mailservers/core/types.ts";

const LIMITS = { maxMessageSize: 1 << 20, maxLineLength: 1000, maxReceivedHeaders: 3 };
const reference = (input: string) => input.replace(/\r\n|\r|\n/g, "\r\n");

function guard(chunks: readonly string[], limits = LIMITS): Promise<string> {
  return text(
    Readable.from(
      chunks.map((c) => Buffer.from(c, "latin1")),
      { objectMode: true },
    ).pipe(new MessageGuard(limits)),
  );
}

describe("MessageGuard", () => {
  const input = "Subject: x\r\nA: 1\n\r\rbody\rline\r\nmore\n\nend\r\r\n.\r\n";

  it("normalises every line ending to CRLF wherever the chunks are cut", async () => {
    for (let cut = 0; cut <= input.length; cut++) {
      assert.equal(await guard([input.slice(0, cut), input.slice(cut)]), reference(input), `cut at ${cut}`);
    }
    assert.equal(await guard([...input]), reference(input), "one byte per chunk");
  });

  it("passes CRLF mail through unchanged", async () => {
    const crlf = "Subject: plain\r\n\r\nline one\r\nline two\r\n";
    assert.equal(await guard([crlf.slice(0, 7), crlf.slice(7)]), crlf);
  });

  it("refuses a message over the size limit, a long line and a mail loop", async () => {
    const refusal = (chunks: string[], limits = LIMITS) =>
      guard(chunks, limits).then(
        () => undefined,
        (error: unknown) => error as SmtpError,
      );
    assert.equal((await refusal([`${"x".repeat(50)}\r\n`], { ...LIMITS, maxMessageSize: 40 }))?.responseCode, 552);
    assert.equal((await refusal([`${"y".repeat(1001)}\r\n`]))?.responseCode, 554);
    const loop = await refusal([`${"Received: a\r\n".repeat(4)}\r\nbody\r\n`]);
    assert.equal(loop?.responseCode, 554);
    assert.match(loop?.message ?? "", /mail loop/);
  });
});
