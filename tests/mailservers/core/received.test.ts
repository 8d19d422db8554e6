// The Received header builder, as pure functions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressLiteral, receivedHeader, rfc5322Date, type Envelope } from "../../../mailservers/core/index.ts";

const envelope = (clientHostname: string, remoteAddress = "192.0.2.7"): Envelope => ({
  id: "ABC123",
  session: {
    id: "s",
    remoteAddress,
    remotePort: 1234,
    localAddress: "192.0.2.1",
    localPort: 25,
    clientHostname,
    secure: true,
  },
  mailFrom: "a@example.org",
  recipients: ["b@semail.test"],
  protocol: "ESMTPS",
  receivedAt: new Date(Date.UTC(2026, 10, 4, 3, 4, 5)),
});

describe("Received header", () => {
  it("names the client, us, the protocol, the id, the recipient and the date, folded", () => {
    assert.equal(
      receivedHeader({
        envelope: envelope("mail.example.org"),
        hostname: "mx.semail.test",
        recipient: "b@semail.test",
      }),
      "Received: from mail.example.org ([192.0.2.7])\r\n\tby mx.semail.test (SEMail) with ESMTPS id ABC123\r\n\tfor <b@semail.test>; Wed, 4 Nov 2026 03:04:05 +0000\r\n",
    );
    assert.match(
      receivedHeader({ envelope: envelope("x", "::ffff:10.0.0.1"), hostname: "mx", eol: "\n" }),
      /^Received: from x \(\[10\.0\.0\.1\]\)\n\tby mx .*\n\t; Wed, 4 Nov 2026 03:04:05 \+0000\n$/,
    );
  });

  it("cannot be broken by a hostile HELO name", () => {
    const header = receivedHeader({ envelope: envelope("evil\r\nX-Injected: 1 (a) <b>; c"), hostname: "mx" });
    assert.equal(header.split("\r\n").length, 4);
    assert.ok(!header.includes("X-Injected: 1"));
    assert.match(header, /^Received: from evilX-Injected:1abc \(/);
    assert.match(receivedHeader({ envelope: envelope(""), hostname: "mx" }), /^Received: from unknown /);
  });

  it("writes address literals and dates as RFC 5321/5322 want them", () => {
    assert.equal(addressLiteral("2001:db8::1"), "[IPv6:2001:db8::1]");
    assert.equal(addressLiteral("::ffff:192.0.2.1"), "[192.0.2.1]");
    assert.equal(rfc5322Date(new Date(Date.UTC(2027, 0, 31, 23, 59, 9))), "Sun, 31 Jan 2027 23:59:09 +0000");
  });
});
