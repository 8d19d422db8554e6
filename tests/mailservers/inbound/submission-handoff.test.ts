// The hand-off itself: outbound's replies as ours, and STARTTLS to an outbound off loopback
// with its certificate checked (here on loopback, with the target saying TLS).
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it, type TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { SessionCredentials } from "../../../mailservers/core/credentials.ts";
import type { Envelope } from "../../../mailservers/core/types.ts";
import { outboundReply } from "../../../mailservers/inbound/pass-on.ts";
import { createHandoff, type HandoffTarget } from "../../../mailservers/inbound/submission-handoff.ts";
import { simpleMessage } from "../../helpers/smtp.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { startTarget, type Target } from "../../helpers/target-smtp.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { until } from "../../../testkit/until.ts";
import { relayingOutbound } from "./submission-fixture.ts";

const alice = TEST_USERS.find((u) => u.uid === "alice")!;

describe("outboundReply", () => {
  it("keeps outbound's code, enhanced code and text", () => {
    const reply = outboundReply("553 5.7.1 Sender <bob@b.test> is not an address of alice");
    assert.deepEqual(
      [reply?.responseCode, reply?.enhancedCode, reply?.message],
      [553, "5.7.1", "5.7.1 Sender <bob@b.test> is not an address of alice"],
    );
    assert.deepEqual(
      [outboundReply("452 4.5.3 Too many recipients")?.responseCode, outboundReply("452 4.5.3 x")?.constructor.name],
      [452, "TemporaryFailure"],
    );
    assert.equal(outboundReply("550-5.7.1 first\n550 5.7.1 second")?.message, "5.7.1 first 5.7.1 second");
    assert.equal(outboundReply("550 no enhanced code")?.message, "5.0.0 no enhanced code");
  });

  it("turns 421 (outbound closing) into 451, and is no refusal for a 2xx or garbage", () => {
    assert.deepEqual(
      [outboundReply("421 4.3.2 Too many connections")?.responseCode, outboundReply("421 4.3.2 x")?.enhancedCode],
      [451, "4.3.2"],
    );
    assert.equal(outboundReply("250 2.0.0 Ok"), undefined);
    assert.equal(outboundReply("connection reset"), undefined);
  });
});

describe("STARTTLS to outbound", () => {
  const slapd = slapdForFile();
  let cert: TestCertificate;
  let stranger: TestCertificate;
  let sink: Target;
  before(async () => {
    [cert, stranger, sink] = await Promise.all([
      selfSignedCertificate(),
      selfSignedCertificate(),
      startTarget({ host: "127.0.0.1" }),
    ]);
  });
  after(async () => {
    await Promise.all([cert?.cleanup(), stranger?.cleanup(), sink?.close()]);
  });

  const envelope = (
    subject: string,
    declaredSize?: number,
    body?: string,
  ): { envelope: Envelope; message: Readable } => ({
    envelope: {
      id: "T1",
      session: {
        id: "s",
        remoteAddress: "192.0.2.7",
        remotePort: 50000,
        localAddress: "192.0.2.1",
        localPort: 587,
        clientHostname: "laptop.example",
        secure: true,
        user: "alice",
        credentials: new SessionCredentials("alice", alice.password),
      },
      mailFrom: "alice@semail.test",
      recipients: ["friend@example.net"],
      ...(declaredSize !== undefined ? { declaredSize } : {}),
      protocol: "ESMTPSA",
      receivedAt: new Date(),
    },
    message: Readable.from([
      Buffer.from(
        simpleMessage({
          from: "alice@semail.test",
          to: "friend@example.net",
          subject,
          ...(body !== undefined ? { body } : {}),
        }),
      ),
    ]),
  });
  const handoff = (tls: HandoffTarget["tls"], port: number) =>
    createHandoff({ target: { host: "127.0.0.1", port, tls }, hostname: "mx.semail.test", logger: silentLogger() });

  it("sends over STARTTLS when the certificate matches, and outbound sees an encrypted, authenticated session", async (t: TestContext) => {
    const out = await relayingOutbound(t, { slapd, sink, tls: cert });
    const before = sink.messages.length;
    const { envelope: e, message } = envelope("over tls");
    assert.match(
      await handoff({ ca: cert.cert, servername: "localhost" }, out.addresses[0]!.boundPort)(e, message),
      /^2\.0\.0 Ok: queued as [0-9A-Z]+$/,
    );
    await until(() => sink.messages.length === before + 1, "the message at the sink");
    const raw = sink.messages.at(-1)!.raw.toString("latin1");
    assert.match(
      raw,
      /^Received: from mx\.semail\.test \(\[127\.0\.0\.1\]\)\r\n\tby relay\.semail\.test [^\r]*with ESMTPSA id /,
    );
    assert.match(
      raw,
      /\r\nReceived: from laptop\.example \(\[192\.0\.2\.7\]\)\r\n\tby mx\.semail\.test \(SEMail\) with ESMTPSA id T1\r\n/,
    );
  });

  it("gives up with 451 before the login when the certificate is not the expected one, or not for the expected name", async (t: TestContext) => {
    const out = await relayingOutbound(t, { slapd, sink, tls: cert });
    const before = sink.messages.length;
    for (const tls of [
      { ca: stranger.cert, servername: "localhost" },
      { ca: cert.cert, servername: "mx.elsewhere.example" },
    ]) {
      const { envelope: e, message } = envelope("wrong certificate");
      await assert.rejects(handoff(tls, out.addresses[0]!.boundPort)(e, message), {
        responseCode: 451,
        message: "4.4.1 Submission service unavailable, try again later",
      });
    }
    assert.equal(out.queue.size, 0);
    assert.equal(sink.messages.length, before);
  });

  it("a message too big for outbound gets 552, declared (SIZE) or not, and nothing is kept", async (t: TestContext) => {
    const out = await relayingOutbound(t, { slapd, sink, tls: cert, maxMessageSize: 2000 });
    const send = handoff({ ca: cert.cert, servername: "localhost" }, out.addresses[0]!.boundPort);
    const declared = envelope("declared", 5000);
    await assert.rejects(send(declared.envelope, declared.message), {
      responseCode: 552,
      message: "5.3.4 Message too big for the submission service",
    });
    const undeclared = envelope("undeclared", undefined, "x".repeat(3000));
    await assert.rejects(
      send(undeclared.envelope, undeclared.message),
      (err: { responseCode?: number; message?: string }) =>
        err.responseCode === 552 && /^5\.3\.4 /.test(err.message ?? ""),
    );
    assert.equal(out.queue.size, 0);
  });

  it("gives up with 451 when outbound offers no STARTTLS: the login never goes out in clear", async (t: TestContext) => {
    const out = await relayingOutbound(t, { slapd, sink });
    const { envelope: e, message } = envelope("no tls");
    await assert.rejects(handoff({ ca: cert.cert, servername: "localhost" }, out.addresses[0]!.boundPort)(e, message), {
      responseCode: 451,
    });
    assert.equal(out.queue.size, 0);
  });
});
