// DANE (RFC 7672) against real DNSSEC: a zone signed here and served by the project's named,
// a second named that validates it (so its answers carry AD), and SMTP servers on loopback
// whose self-signed certificates no CA vouches for: only the TLSA records can.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { RunningNamed } from "../../../../../../deploy/local/named.ts";
import {
  createDane,
  daneMismatch,
  spkiSha256,
} from "../../../../../../mailservers/outbound/relay/delivery/tls-policy/dane.ts";
import { createMxResolver } from "../../../../../../mailservers/outbound/relay/delivery/mx.ts";
import { createSender, type RecipientResult } from "../../../../../../mailservers/outbound/relay/delivery/send.ts";
import { selfSignedPem } from "../../../../../../testkit/tls.ts";
import { startTestNamed, zoneText } from "../../../../../helpers/named.ts";
import { sharedPort, startTarget, type Target } from "../../../../../helpers/target-smtp.ts";
import { signZone, startValidatingNamed, type ValidatingNamed } from "./dnssec-named.ts";
import { deliverOne, receivedFor as got } from "../fixture.ts";

const APEX = "dane.test";
const IP = { good: "127.0.0.41", bad: "127.0.0.42", plain: "127.0.0.43" };

let authoritative: RunningNamed;
let validating: ValidatingNamed;
let port: number;
const targets: Target[] = [];
let good: Target, bad: Target, plain: Target;
let goodCert: X509Certificate;

before(async () => {
  const goodPem = await selfSignedPem(`mxgood.${APEX}`);
  const badPem = await selfSignedPem(`mxbad.${APEX}`);
  goodCert = new X509Certificate(goodPem.cert);
  const digest = spkiSha256(goodCert).toString("hex");
  const records = [
    `mxgood IN A ${IP.good}`,
    `mxbad IN A ${IP.bad}`,
    `mxplain IN A ${IP.plain}`,
    "good IN MX 10 mxgood",
    "bad IN MX 10 mxbad",
    "plain IN MX 10 mxplain",
    `_25._tcp.mxgood IN TLSA 3 1 1 ${digest}`,
    // The right key for the good server, published for the one with another key.
    `_25._tcp.mxbad IN TLSA 3 1 1 ${digest}`,
    `_25._tcp.mxplain IN TLSA 3 1 1 ${digest}`,
  ];
  const signed = await signZone(APEX, zoneText(APEX, records));
  authoritative = await startTestNamed([{ name: APEX, text: signed.text }]);
  validating = await startValidatingNamed(APEX, authoritative.server, signed.trustAnchor);
  port = await sharedPort(Object.values(IP));
  good = await startTarget({ host: IP.good, port, tls: goodPem });
  targets.push(good);
  bad = await startTarget({ host: IP.bad, port, tls: badPem });
  targets.push(bad);
  plain = await startTarget({ host: IP.plain, port });
  targets.push(plain);
});

after(async () => {
  await Promise.all(targets.map((t) => t.close()));
  await validating?.stop();
  await authoritative?.stop();
});

/** Delivers one message with MX and TLSA answers from `dns` (the validating named unless told). */
async function deliver(domain: string, local: string, dns = validating.server): Promise<RecipientResult> {
  const sender = createSender({
    resolver: createMxResolver({ server: dns, timeoutMs: 2000 }),
    dane: createDane({ server: dns, timeoutMs: 2000 }),
    ehloName: `relay.${APEX}`,
    port,
    localAddresses: ["127.0.0.99"],
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 2000,
    commandTimeoutMs: 3000,
    connectionIdleMs: 0,
  });
  return deliverOne(sender, APEX, domain, local, `dane-${domain}-${local}`);
}

describe("DANE with a validating resolver", () => {
  test("a certificate whose key the TLSA 3 1 1 record names: delivered over TLS, no CA needed", async () => {
    const result = await deliver("good", "g1");
    assert.equal(result.status, "delivered", result.response);
    assert.equal(result.tls, true);
    assert.equal(got(good, `g1@good.${APEX}`)[0]?.secure, true);
  });

  test("a certificate with another key: deferred, the message not sent", async () => {
    const result = await deliver("bad", "b1");
    assert.equal(result.status, "deferred", result.response);
    assert.equal(result.enhanced, "4.7.5");
    assert.match(result.response, /TLSA/);
    assert.equal(got(bad, `b1@bad.${APEX}`).length, 0);
  });

  test("the same answers without the AD bit (from the non-validating server) are not DANE: delivered", async () => {
    const result = await deliver("bad", "b2", authoritative.server);
    assert.equal(result.status, "delivered", result.response);
    assert.equal(got(bad, `b2@bad.${APEX}`).length, 1);
  });

  test("TLSA records for a server without STARTTLS: deferred, nothing sent in the clear", async () => {
    const result = await deliver("plain", "p1");
    assert.equal(result.status, "deferred", result.response);
    assert.equal(got(plain, `p1@plain.${APEX}`).length, 0);
  });
});

describe("matching a chain against TLSA records", () => {
  test("3 1 1 matches the server's key whatever its name; another digest does not", () => {
    const digest = spkiSha256(goodCert);
    assert.equal(
      daneMismatch([{ usage: 3, selector: 1, matching: 1, data: digest }], [goodCert], "any.name"),
      undefined,
    );
    assert.match(
      daneMismatch([{ usage: 3, selector: 1, matching: 1, data: Buffer.alloc(32) }], [goodCert], "x") ?? "",
      /matches none/,
    );
  });

  test("2 1 1 needs the key in the chain above the server's own, not the server's own", () => {
    const digest = spkiSha256(goodCert);
    assert.match(
      daneMismatch([{ usage: 2, selector: 1, matching: 1, data: digest }], [goodCert], `mxgood.${APEX}`) ?? "",
      /matches none/,
    );
    // A self-signed certificate sent with itself as issuer: signed by that key, and the name on it.
    assert.equal(
      daneMismatch([{ usage: 2, selector: 1, matching: 1, data: digest }], [goodCert, goodCert], `mxgood.${APEX}`),
      undefined,
    );
    assert.match(
      daneMismatch([{ usage: 2, selector: 1, matching: 1, data: digest }], [goodCert, goodCert], "other.test") ?? "",
      /matches none/,
    );
  });
});
