// The sender against a real named and real SMTP servers on loopback.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createMxResolver } from "../../../../../mailservers/outbound/relay/delivery/mx.ts";
import {
  createSender,
  type DeliveryOptions,
  type RecipientResult,
  type Sender,
} from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { startTarget } from "../../../../helpers/target-smtp.ts";
import { selfSignedPem } from "../../../../../testkit/tls.ts";
import { APEX, IP, message, source, startWorld, type World } from "./fixture.ts";

let world: World;
const senders: Sender[] = [];

before(async () => {
  world = await startWorld();
});
after(async () => {
  await Promise.all(senders.map((s) => s.close()));
  await world?.close();
});

function sender(overrides: Partial<DeliveryOptions> = {}): Sender {
  const s = createSender({
    resolver: createMxResolver({ server: world.named.server, timeoutMs: 2000 }),
    ehloName: `relay.${APEX}`,
    port: world.port,
    localAddresses: [IP.self],
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 500,
    commandTimeoutMs: 3000,
    ...overrides,
  });
  senders.push(s);
  return s;
}

async function deliverTo(
  domain: string,
  locals: string[],
  overrides: Partial<DeliveryOptions> = {},
  body = message(`to ${domain}`),
): Promise<RecipientResult[]> {
  return sender(overrides).deliver({
    domain: `${domain}.${APEX}`,
    mailFrom: `alice@sender.${APEX}`,
    recipients: locals.map((l) => `${l}@${domain}.${APEX}`),
    envelopeId: `test-${domain}`,
    message: source(body),
  });
}

const receivedBy = (target: keyof World["targets"], recipient: string) =>
  world.targets[target].messages.filter((m) => m.recipients.includes(recipient));

describe("MX routing", () => {
  test("lowest preference first, next host when it cannot be reached", async () => {
    const [result] = await deliverTo("pref", ["p1"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(result?.host, `a.${APEX} [${IP.a}]`);
    assert.equal(receivedBy("a", `p1@pref.${APEX}`).length, 1);
    assert.equal(receivedBy("b", `p1@pref.${APEX}`).length, 0);
  });

  test("no MX: the domain's own address is the implicit MX", async () => {
    const [result] = await deliverTo("implicit", ["i1"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(receivedBy("b", `i1@implicit.${APEX}`).length, 1);
  });

  test("null MX bounces without connecting", async () => {
    const before = world.targets.a.connections + world.targets.b.connections;
    const [result] = await deliverTo("nullmx", ["n1"]);
    assert.equal(result?.status, "bounced");
    assert.equal(result?.enhanced, "5.1.10");
    assert.match(result?.response ?? "", /null MX/);
    assert.equal(world.targets.a.connections + world.targets.b.connections, before);
  });

  test("NXDOMAIN bounces; a name with no MX and no address bounces", async () => {
    const [nx] = await deliverTo("nope", ["x"]);
    assert.equal(nx?.status, "bounced");
    assert.match(nx?.response ?? "", /does not exist/);
    const [empty] = await deliverTo("empty", ["x"]);
    assert.equal(empty?.status, "bounced");
    assert.match(empty?.response ?? "", /no MX, A or AAAA/);
  });

  test("MX exists but is unreachable: defer, never the domain's A record", async () => {
    const [result] = await deliverTo("unreach", ["u1"]);
    assert.equal(result?.status, "deferred");
    assert.match(result?.response ?? "", /could be reached/);
    assert.equal(receivedBy("a", `u1@unreach.${APEX}`).length, 0);
    const [noAddress] = await deliverTo("nohost", ["u2"]);
    assert.equal(noAddress?.status, "deferred");
  });

  test("DNS server down: defer", async () => {
    const results = await deliverTo("pref", ["d1"], {
      resolver: createMxResolver({ server: `127.0.0.1:${world.port}`, timeoutMs: 300 }),
    });
    assert.equal(results[0]?.status, "deferred");
    assert.match(results[0]?.response ?? "", /DNS/);
  });
});

describe("address families", () => {
  test("an IPv6-only MX is reached over ::1", async () => {
    const [result] = await deliverTo("v6only", ["s1"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    const [got] = receivedBy("six", `s1@v6only.${APEX}`);
    assert.equal(got?.localAddress, "::1");
  });

  test("ipv4 only: an IPv6-only MX defers", async () => {
    const [result] = await deliverTo("v6only", ["s2"], { ipFamily: "ipv4" });
    assert.equal(result?.status, "deferred");
    assert.match(result?.response ?? "", /ipv4/);
  });

  test("prefer-ipv6 takes AAAA, ipv4 takes A, ipv6 takes AAAA", async () => {
    for (const [ipFamily, target, local] of [
      ["prefer-ipv6", "six", "f1"],
      ["ipv4", "a", "f2"],
      ["ipv6", "six", "f3"],
    ] as const) {
      const [result] = await deliverTo("dualdom", [local], { ipFamily });
      assert.equal(result?.status, "delivered", `${ipFamily}: ${String(result?.response)}`);
      assert.equal(receivedBy(target, `${local}@dualdom.${APEX}`).length, 1, `${ipFamily} should reach ${target}`);
    }
  });
});

describe("the message", () => {
  test("arrives byte for byte after our Received header", async () => {
    const original = Buffer.concat([
      message("exact"),
      Buffer.from(".leading dot\r\n..two dots\r\n.\r\nnot the end\r\n"),
      Buffer.from([0xc3, 0xa9, 0x0d, 0x0a]), // 8-bit text
      Buffer.from(`${"x".repeat(900)}\r\nlast line\r\n`),
    ]);
    const received = `Received: from client.example (localhost [127.0.0.1])\r\n\tby relay.${APEX} with ESMTPSA id exact; Tue, 24 Nov 2026 00:25:00 +0000\r\n`;
    const [result] = await sender().deliver({
      domain: `plain.${APEX}`,
      mailFrom: `alice@sender.${APEX}`,
      recipients: [`exact@plain.${APEX}`],
      envelopeId: "exact",
      // The spool keeps our Received header in front of the message, as the outbound backend writes it.
      message: source(Buffer.concat([Buffer.from(received, "latin1"), original])),
    });
    assert.equal(result?.status, "delivered", String(result?.response));
    const [got] = receivedBy("a", `exact@plain.${APEX}`);
    assert.ok(got);
    assert.equal(got.raw.toString("latin1"), received + original.toString("latin1"));
    assert.equal(got.clientHostname, `relay.${APEX}`);
    assert.equal(got.mailFrom, `alice@sender.${APEX}`);
  });

  test("null sender is sent as MAIL FROM:<>", async () => {
    const [result] = await sender().deliver({
      domain: `plain.${APEX}`,
      mailFrom: "",
      recipients: [`bounce@plain.${APEX}`],
      envelopeId: "null",
      message: source(message("null")),
    });
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(receivedBy("a", `bounce@plain.${APEX}`)[0]?.mailFrom, "");
  });

  test("an EHLO name with CR/LF is refused at creation", () => {
    assert.throws(
      () => createSender({ resolver: createMxResolver({}), ehloName: "relay.test\r\nMAIL FROM:<x@y>" }),
      /not a host name/,
    );
    assert.throws(() => createSender({ resolver: createMxResolver({}), ehloName: "" }), /not a host name/);
  });
});

describe("replies", () => {
  test("mixed per-recipient replies give mixed results", async () => {
    const results = await deliverTo("mixed-d", ["ok1", "bad1", "later1", "ok2"]);
    assert.deepEqual(
      results.map((r) => [r.recipient.split("@")[0], r.status, r.code]),
      [
        ["ok1", "delivered", 250],
        ["bad1", "bounced", 550],
        ["later1", "deferred", 451],
        ["ok2", "delivered", 250],
      ],
    );
    assert.equal(results[1]?.enhanced, "5.1.1");
    const got = world.targets.mixed.messages.filter((m) => m.recipients.some((r) => r.startsWith("ok1@")));
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]?.recipients, [`ok1@mixed-d.${APEX}`, `ok2@mixed-d.${APEX}`]);
  });

  test("every recipient refused: each keeps its own verdict", async () => {
    const results = await deliverTo("mixed-d", ["bad2", "later2"]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["bounced", "deferred"],
    );
  });

  test("451 defers until the server accepts", async () => {
    const first = await deliverTo("temp-d", ["t1"]);
    assert.equal(first[0]?.status, "deferred");
    assert.equal(first[0]?.code, 451);
    assert.equal(first[0]?.enhanced, "4.7.1");
    assert.equal((await deliverTo("temp-d", ["t1"]))[0]?.status, "deferred");
    const third = await deliverTo("temp-d", ["t1"]);
    assert.equal(third[0]?.status, "delivered", String(third[0]?.response));
    assert.equal(world.targets.temp.messages.length, 1);
  });

  test("550 bounces", async () => {
    const [result] = await deliverTo("reject", ["r1"]);
    assert.equal(result?.status, "bounced");
    assert.equal(result?.code, 550);
    assert.equal(world.targets.rej.messages.length, 0);
  });

  test("a server that never greets times out and defers", async () => {
    const [result] = await deliverTo("hang-d", ["h1"]);
    assert.equal(result?.status, "deferred");
    // The greeting timer (500 ms here) ended it, not the 3 s command timer or a test timeout.
    assert.match(result?.response ?? "", /greeting/i);
    assert.ok(world.targets.hang.connections >= 1);
  });

  test("no reply after the message: defer, and do not hand it to the next MX", async () => {
    // The first server may have taken it; retrying later risks a duplicate, trying the
    // backup MX at once would make one likely.
    const [result] = await deliverTo("stall-d", ["st1"], { commandTimeoutMs: 500 });
    assert.equal(result?.status, "deferred");
    assert.match(result?.response ?? "", /timeout|timed out/i, "the command timer ended it");
    assert.equal(receivedBy("a", `st1@stall-d.${APEX}`).length, 0);
  });

  test("after a hanging MX the next one gets the message", async () => {
    const [result] = await deliverTo("hangfb", ["h2"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(receivedBy("a", `h2@hangfb.${APEX}`).length, 1);
  });
});

describe("TLS", () => {
  test("STARTTLS is used when offered (self-signed is fine by default)", async () => {
    const [result] = await deliverTo("tls-d", ["s1"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(result?.tls, true);
    assert.equal(receivedBy("tls", `s1@tls-d.${APEX}`)[0]?.secure, true);
  });

  test("a plain server is used in clear text when TLS is not required", async () => {
    const [result] = await deliverTo("plain", ["s2"]);
    assert.equal(result?.status, "delivered");
    assert.equal(result?.tls, false);
    assert.equal(receivedBy("a", `s2@plain.${APEX}`)[0]?.secure, false);
  });

  test("TLS required by policy: defer when the server does not offer it", async () => {
    const [result] = await deliverTo("plain", ["s3"], { tlsPolicy: { [`plain.${APEX}`]: "require" } });
    assert.equal(result?.status, "deferred");
    assert.equal(result?.enhanced, "4.7.5");
    assert.match(result?.response ?? "", /TLS required/);
    assert.equal(receivedBy("a", `s3@plain.${APEX}`).length, 0);
  });

  test("require accepts a self-signed certificate; verify does not", async () => {
    const [required] = await deliverTo("tls-d", ["s4"], { tlsPolicy: { [`tls-d.${APEX}`]: "require" } });
    assert.equal(required?.status, "delivered", String(required?.response));
    const [verified] = await deliverTo("tls-d", ["s5"], { tlsPolicy: { [`tls-d.${APEX}`]: "verify" } });
    assert.equal(verified?.status, "deferred");
    assert.equal(receivedBy("tls", `s5@tls-d.${APEX}`).length, 0);
  });
});

describe("loops and relay host", () => {
  test("an MX at one of our addresses is a loop: bounce", async () => {
    const [result] = await deliverTo("loop", ["l1"]);
    assert.equal(result?.status, "bounced");
    assert.equal(result?.enhanced, "5.4.6");
    const [byName] = await deliverTo("loopname", ["l2"]);
    assert.equal(byName?.status, "bounced");
    assert.match(byName?.response ?? "", /loops back/);
  });

  test("we are a backup MX: only better hosts are tried", async () => {
    const [result] = await deliverTo("backup", ["l3"]);
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(receivedBy("a", `l3@backup.${APEX}`).length, 1);
  });

  test("a relay host takes everything, without MX lookups", async () => {
    const resolver = { resolve: () => Promise.reject(new Error("must not be asked")) };
    const [result] = await deliverTo("nope", ["r1"], { resolver, relayHost: { host: IP.b, port: world.port } });
    assert.equal(result?.status, "delivered", String(result?.response));
    assert.equal(receivedBy("b", `r1@nope.${APEX}`).length, 1);
  });

  test("a relay host with AUTH gets our login over STARTTLS", async (t) => {
    const relay = await startTarget({
      host: "127.0.0.14",
      tls: await selfSignedPem("smtp.isp.test"),
      auth: { user: "me", pass: "s3cret" },
    });
    t.after(() => relay.close());
    const resolver = { resolve: () => Promise.reject(new Error("must not be asked")) };
    const unverified = await deliverTo("nope", ["r6"], {
      resolver,
      relayHost: { host: relay.host, port: relay.port, auth: { user: "me", pass: "s3cret" } },
    });
    assert.equal(unverified[0]?.status, "deferred", "a self-signed relay is not trusted with the password by default");
    const [ok] = await deliverTo("nope", ["r4"], {
      resolver,
      relayHost: { host: relay.host, port: relay.port, auth: { user: "me", pass: "s3cret" }, verifyTls: false },
    });
    assert.equal(ok?.status, "delivered", String(ok?.response));
    assert.equal(ok?.tls, true);
    assert.deepEqual([relay.messages[0]?.user, relay.messages[0]?.secure], ["me", true]);
    const [wrong] = await deliverTo("nope", ["r5"], {
      resolver,
      relayHost: { host: relay.host, port: relay.port, auth: { user: "me", pass: "wrong" }, verifyTls: false },
    });
    assert.equal(wrong?.status, "deferred");
    assert.match(wrong?.response ?? "", /refused our login/);
    assert.equal(relay.messages.length, 1);
  });

  test("a relay host that does not offer TLS never gets our password", async () => {
    const resolver = { resolve: () => Promise.reject(new Error("must not be asked")) };
    const [remote] = await deliverTo("nope", ["r3"], {
      resolver,
      relayHost: { host: IP.b, port: world.port, auth: { user: "u", pass: "p" } },
    });
    assert.equal(remote?.status, "deferred");
    assert.match(remote?.response ?? "", /TLS required/);
    assert.equal(receivedBy("b", `r3@nope.${APEX}`).length, 0);
  });
});

describe("resources and local domains", () => {
  test("the spool stream is closed when the envelope is refused", async () => {
    const { Readable } = await import("node:stream");
    let opened = 0;
    let closed = 0;
    const [result] = await sender().deliver({
      domain: `mixed-d.${APEX}`,
      mailFrom: `alice@sender.${APEX}`,
      recipients: [`bad3@mixed-d.${APEX}`],
      envelopeId: "fd",
      message: () => {
        opened++;
        // A source that never ends by itself, like a large spool file read slowly.
        const stream = new Readable({
          read() {
            this.push(Buffer.alloc(1024, 0x61));
          },
        });
        stream.once("close", () => closed++);
        return stream;
      },
    });
    assert.equal(result?.status, "bounced");
    for (let i = 0; i < 50 && closed < opened; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(closed, opened);
  });

  test("a domain we receive mail for may have us as MX: no loop", async () => {
    const [result] = await deliverTo("backup", ["l4"], {
      localAddresses: [IP.a],
      isLocalDomain: (d) => d === `backup.${APEX}`,
    });
    assert.equal(result?.status, "delivered", String(result?.response));
    const [other] = await deliverTo("backup", ["l5"], { localAddresses: [IP.a, IP.self] });
    assert.equal(other?.status, "bounced");
  });
});
