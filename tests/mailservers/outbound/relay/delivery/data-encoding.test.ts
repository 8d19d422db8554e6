// The buffer-at-a-time DATA encoder against a reference written the obvious way (whole
// string, regular expressions), over random messages cut into random chunks: the bytes out
// must not depend on where the chunks were cut.
import assert from "node:assert/strict";
import { Readable, type Transform } from "node:stream";
import { test } from "node:test";
import { CrlfLines, DataEncoder } from "../../../../../mailservers/outbound/relay/delivery/data-encoding.ts";

const crlf = (text: string) => text.replace(/\r\n|\r|\n/g, "\r\n");

/** RFC 5321 4.5.2 spelled out: CRLF lines, a leading dot doubled, then "." on a line of its own. */
function referenceData(input: string): string {
  const lines = crlf(input).replace(/(^|\r\n)\./g, "$1..");
  return lines === "" || lines.endsWith("\r\n") ? `${lines}.\r\n` : `${lines}\r\n.\r\n`;
}

async function run(stream: Transform, chunks: readonly Buffer[]): Promise<{ bytes: string; out: Buffer[] }> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(stream)) out.push(c as Buffer);
  return { bytes: Buffer.concat(out).toString("latin1"), out };
}

/** A small seeded generator (mulberry32), so a failure names a case that can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// Weighted towards the bytes that matter: dots, CR, LF and CRLF, with some text between.
const PIECES = [".", ".", "\r", "\n", "\r\n", "\r\n", "a", "bc", " ", "..", "\r\n.\r\n", "x\u00e9"];

function randomMessage(next: () => number): string {
  const length = Math.floor(next() * 40);
  let text = "";
  for (let i = 0; i < length; i++) text += PIECES[Math.floor(next() * PIECES.length)];
  return text;
}

/** Cuts `bytes` at random places: empty chunks and one-byte chunks included. */
function randomChunks(bytes: Buffer, next: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let guard = 0; guard <= bytes.length + 8 && at < bytes.length; guard++) {
    const size = next() < 0.1 ? 0 : 1 + Math.floor(next() * 6);
    chunks.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    at += size;
  }
  if (at < bytes.length) chunks.push(bytes.subarray(at));
  return chunks;
}

test("random messages in random chunks encode as the reference does", async () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const next = random(seed);
    const message = randomMessage(next);
    const bytes = Buffer.from(message, "latin1");
    const chunks = randomChunks(bytes, next);
    const label = `seed ${seed}: ${JSON.stringify(message)} as ${JSON.stringify(chunks.map((c) => c.toString("latin1")))}`;
    assert.equal((await run(new DataEncoder(), chunks)).bytes, referenceData(message), label);
    assert.equal((await run(new CrlfLines(), chunks)).bytes, crlf(message), label);
  }
});

const EDGES: Record<string, string> = {
  "the empty message": "",
  "no final newline": "a\r\nb",
  "lines of only a dot": ".\r\n.\r\n.",
  "a dot line at the very end": "a\r\n.",
  "dots after bare LF and bare CR": "a\n.b\r.c\r\n.d",
  "a smuggled end": "a\n.\nb\r.\rc\r\n.\nd",
  "bare CR at the end": "a\r",
  "CR CR LF": "a\r\r\nb",
  "LF CR": "a\n\rb",
  "a line of dots": "...\r\n..",
};

test("the edge cases, whole and at every single cut and one byte at a time", async () => {
  for (const [name, message] of Object.entries(EDGES)) {
    const bytes = Buffer.from(message, "latin1");
    const want = referenceData(message);
    assert.equal((await run(new DataEncoder(), [bytes])).bytes, want, name);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
      assert.equal((await run(new DataEncoder(), chunks)).bytes, want, `${name}, cut at ${cut}`);
    }
    const bytewise = [...bytes].map((b) => Buffer.from([b]));
    assert.equal((await run(new DataEncoder(), bytewise)).bytes, want, `${name}, byte by byte`);
  }
});

test("a dot that starts a chunk is stuffed when the last chunk ended a line, and only then", async () => {
  const cases: Array<[string[], string]> = [
    [["a\r\n", ".b\r\n"], "a\r\n..b\r\n.\r\n"],
    [["a\r", "\n.b"], "a\r\n..b\r\n.\r\n"],
    [["a\r", ".b"], "a\r\n..b\r\n.\r\n"],
    [["a\n", ".b"], "a\r\n..b\r\n.\r\n"],
    [["a", ".b"], "a.b\r\n.\r\n"],
    [[".", ".", "."], "....\r\n.\r\n"],
  ];
  for (const [chunks, want] of cases) {
    const got = await run(
      new DataEncoder(),
      chunks.map((c) => Buffer.from(c, "latin1")),
    );
    assert.equal(got.bytes, want, JSON.stringify(chunks));
  }
});

test("a chunk of CRLF lines with no leading dot goes out as the same buffer, uncopied", async () => {
  const first = Buffer.from("Subject: x\r\n\r\n");
  const middle = Buffer.from("line one\r\nline two\r\n");
  const { out } = await run(new DataEncoder(), [first, middle]);
  assert.ok(
    out.some((c) => c === middle),
    "the middle chunk itself is pushed",
  );
});

test("the byte counts are what went in and what came out", async () => {
  const encoder = new DataEncoder();
  const { bytes } = await run(encoder, [Buffer.from(".a\nb")]);
  assert.equal(encoder.inByteCount, 4);
  assert.equal(encoder.outByteCount, Buffer.byteLength(bytes, "latin1"));
  assert.equal(bytes, "..a\r\nb\r\n.\r\n");
});
