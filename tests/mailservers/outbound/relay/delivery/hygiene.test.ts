import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import type { Envelope } from "../../../../../mailservers/core/types.ts";
import { normalizeLineEndings, receivedHeader } from "../../../../../mailservers/outbound/relay/delivery/hygiene.ts";

async function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("latin1");
}

const reference = (s: string) => s.replace(/\r\n|\r|\n/g, "\r\n");

const SAMPLES = [
  "a\nb",
  "a\rb",
  "a\r\nb",
  "\r",
  "\n",
  "\r\r\n\n",
  "x\n.\ny",
  "x\r.\ry",
  "x\n.\r\ny",
  "x\r\n.\ny",
  "end\r",
  "\r\n\r\n",
  "no breaks",
  "",
];

test("bare CR and bare LF become CRLF, CRLF stays", async () => {
  for (const sample of SAMPLES) {
    assert.equal(
      await collect(normalizeLineEndings(Readable.from([Buffer.from(sample, "latin1")]))),
      reference(sample),
      JSON.stringify(sample),
    );
  }
});

test("a CR at the end of one chunk and an LF at the start of the next are one CRLF", async () => {
  for (const sample of SAMPLES) {
    // every split point, and one byte per chunk
    for (let cut = 0; cut <= sample.length; cut++) {
      const parts = [sample.slice(0, cut), sample.slice(cut)].map((p) => Buffer.from(p, "latin1"));
      assert.equal(
        await collect(normalizeLineEndings(Readable.from(parts))),
        reference(sample),
        `${JSON.stringify(sample)} cut at ${cut}`,
      );
    }
    const bytes = [...Buffer.from(sample, "latin1")].map((b) => Buffer.from([b]));
    assert.equal(
      await collect(normalizeLineEndings(Readable.from(bytes))),
      reference(sample),
      `${JSON.stringify(sample)} byte by byte`,
    );
  }
});

test("an error in the source reaches the normalised stream", async () => {
  const failing = new Readable({
    read() {
      this.destroy(new Error("disk gone"));
    },
  });
  await assert.rejects(collect(normalizeLineEndings(failing)), /disk gone/);
});

function envelope(overrides: Partial<Envelope> = {}, helo = "client.example"): Envelope {
  return {
    id: "abc123",
    session: {
      id: "s1",
      remoteAddress: "::ffff:127.0.0.1",
      remotePort: 40000,
      localAddress: "127.0.0.1",
      localPort: 587,
      clientHostname: helo,
      secure: true,
      user: "alice",
    },
    mailFrom: "alice@example.test",
    recipients: ["bob@example.org"],
    protocol: "ESMTPSA",
    receivedAt: new Date(Date.UTC(2026, 10, 24, 0, 25, 0)),
    ...overrides,
  };
}

test("Received names client, us, protocol, id, the single recipient and the date", () => {
  assert.equal(
    receivedHeader(envelope(), "mail.example.test"),
    "Received: from client.example ([127.0.0.1])\r\n\tby mail.example.test (SEMail) with ESMTPSA id abc123\r\n\tfor <bob@example.org>; Tue, 24 Nov 2026 00:25:00 +0000\r\n",
  );
});

test("Received hides the recipient list of a multi-recipient message and neutralises a hostile HELO", () => {
  const header = receivedHeader(
    envelope({ recipients: ["a@x.test", "b@y.test"] }, "evil\r\nBcc: x@y (comment)"),
    "mx.test",
  );
  assert.doesNotMatch(header, /a@x\.test|b@y\.test/);
  assert.equal(header.split("\r\n").filter((l) => l !== "" && !/^(Received:|\t)/.test(l)).length, 0, header);
  assert.match(header, /^Received: from evilBcc:x@ycomment \(\[127\.0\.0\.1\]\)\r\n/);
  assert.match(
    receivedHeader(envelope({ session: { ...envelope().session, remoteAddress: "::1" } }), "mx.test"),
    /\(\[IPv6:::1\]\)/,
  );
});
