// Reading a message's header block off its stream: it ends at the first empty line, wherever
// the chunks are cut; the body is not waited for; the message handed on is byte for byte
// the one sent; an oversized header block and a failing stream are refusals.
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { describe, it } from "node:test";
import { readHeaderBlock } from "../../../mailservers/outbound/header-block.ts";
import { permFail } from "../../../mailservers/core/types.ts";

const MESSAGE = "From: <alice@semail.test>\r\nSubject: hi\r\n\r\nbody line\r\n\r\nFrom: in the body\r\n";
const HEADER = "From: <alice@semail.test>\r\nSubject: hi\r\n";

/** `message` cut into chunks of `size` bytes. */
const chunked = (message: string, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(message.length / size) }, (_, i) =>
      Buffer.from(message.slice(i * size, (i + 1) * size), "latin1"),
    ),
  );

describe("readHeaderBlock", () => {
  it("ends at the first empty line however the chunks are cut, and replays the whole message", async () => {
    for (const size of [1, 2, 3, 5, 27, 28, 29, 1000]) {
      const block = await readHeaderBlock(chunked(MESSAGE, size), 1024);
      assert.equal(block.header.toString("latin1"), HEADER, `chunks of ${size}`);
      assert.equal(await text(block.message), MESSAGE, `chunks of ${size}`);
    }
  });

  it("an empty header block, and a message that is all header", async () => {
    const empty = await readHeaderBlock(chunked("\r\nno header at all\r\n", 1), 1024);
    assert.deepEqual([empty.header.toString("latin1"), await text(empty.message)], ["", "\r\nno header at all\r\n"]);
    const all = await readHeaderBlock(chunked("Subject: only\r\nX-A: b\r\n", 4), 1024);
    assert.deepEqual(
      [all.header.toString("latin1"), await text(all.message)],
      ["Subject: only\r\nX-A: b\r\n", "Subject: only\r\nX-A: b\r\n"],
    );
  });

  it("answers once the header is in, with the body not yet sent", async () => {
    const stream = new PassThrough();
    stream.write(`${HEADER}\r\nfirst body line\r\n`);
    // The stream stays open: a reader that waited for the whole message would never answer.
    const block = await readHeaderBlock(stream, 1024);
    assert.equal(block.header.toString("latin1"), HEADER);
    stream.end("the rest of the body\r\n");
    assert.equal(await text(block.message), `${HEADER}\r\nfirst body line\r\nthe rest of the body\r\n`);
  });

  it("refuses a header block over the limit with 552 5.3.4, the stream still open", async () => {
    const stream = new PassThrough();
    stream.write(`X-Long: ${"a".repeat(80)}\r\n`.repeat(20));
    await assert.rejects(readHeaderBlock(stream, 1024), { responseCode: 552, enhancedCode: "5.3.4" });
    stream.destroy();
  });

  it("a stream error before the header's end rejects with that error; after it, the replayed message fails with it", async () => {
    const early = new PassThrough();
    early.write("Subject: cut");
    const refusal = permFail(552, "5.3.4", "Message too big");
    setImmediate(() => early.destroy(refusal));
    await assert.rejects(readHeaderBlock(early, 1024), refusal);

    const late = new PassThrough();
    late.write(`${HEADER}\r\nbody`);
    const block = await readHeaderBlock(late, 1024);
    setImmediate(() => late.destroy(refusal));
    await assert.rejects(text(block.message), refusal);
  });
});
