// The shared SMTP front end over real sockets, with an in-memory backend that records
// what it was asked and what it read.
import assert from "node:assert/strict";
import type { Readable } from "node:stream";
import { after, before, describe, it, type TestContext } from "node:test";
import { createTransport } from "nodemailer";
import { silentLogger } from "../../../lib/logger.ts";
import {
  createSmtpFrontEnd,
  listenSmtp,
  permFail,
  type DeliveryBackend,
  type Envelope,
  type SessionInfo,
  type SmtpFrontEndOptions,
} from "../../../mailservers/core/index.ts";
import { parseListenSpec } from "../../../lib/listen-spec.ts";
import { GreetPasses } from "../../../mailservers/core/connection-guard.ts";
import { SmtpClient, sendMessage, simpleMessage } from "../../helpers/smtp.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { until } from "../../../testkit/until.ts";

interface Delivery {
  envelope: Envelope;
  text?: string;
  error?: Error;
}

/** A backend that accepts *@ok.test, refuses others, and keeps messages in memory. */
function memoryBackend(overrides: Partial<DeliveryBackend> = {}) {
  const deliveries: Delivery[] = [];
  const senders: Array<{ address: string; session: SessionInfo }> = [];
  const backend: DeliveryBackend = {
    async checkSender(address, session) {
      senders.push({ address, session });
    },
    async checkRecipient(address) {
      if (!address.endsWith("@ok.test")) throw permFail(550, "5.1.1", "No such user here");
    },
    async deliver(envelope: Envelope, message: Readable) {
      const entry: Delivery = { envelope };
      deliveries.push(entry);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of message) chunks.push(chunk as Buffer);
      } catch (err) {
        entry.error = err as Error;
        throw err;
      }
      entry.text = Buffer.concat(chunks).toString("latin1");
      return `Ok: stored as ${envelope.id}`;
    },
    ...overrides,
  };
  return { backend, deliveries, senders };
}

async function start(
  t: TestContext,
  options: Partial<SmtpFrontEndOptions> & { backend?: DeliveryBackend } = {},
  specs = ["127.0.0.1:0"],
) {
  const memory = memoryBackend();
  const frontEnd = createSmtpFrontEnd({
    backend: options.backend ?? memory.backend,
    logger: silentLogger(),
    hostname: "mx.test",
    maxMessageSize: 64 * 1024,
    ...options,
    limits: { closeTimeoutMs: 200, ...options.limits },
  });
  const listening = await listenSmtp(frontEnd, specs.map(parseListenSpec));
  t.after(() => listening.close());
  return { ...memory, frontEnd, listening, port: listening.addresses[0]!.boundPort };
}

let cert: TestCertificate;
before(async () => {
  cert = await selfSignedCertificate();
});
after(() => cert.cleanup());

describe("SMTP front end", () => {
  it("takes a message from nodemailer and hands the backend a plain envelope and the message", async (t) => {
    const { port, deliveries } = await start(t);
    const transport = createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true, name: "client.test" });
    const info = await transport.sendMail({
      from: "alice@far.test",
      to: "bob@ok.test",
      subject: "hi",
      text: "one\ntwo\n",
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: stored as [0-9A-Z]{14}$/);
    assert.equal(deliveries.length, 1);
    const { envelope, text } = deliveries[0]!;
    assert.equal(envelope.mailFrom, "alice@far.test");
    assert.deepEqual(envelope.recipients, ["bob@ok.test"]);
    assert.equal(envelope.protocol, "ESMTP");
    assert.equal(envelope.session.clientHostname, "client.test");
    assert.equal(envelope.session.remoteAddress, "127.0.0.1");
    assert.equal(envelope.session.secure, false);
    assert.equal(envelope.session.user, undefined);
    assert.match(text!, /^Content-Type: text\/plain/m);
    assert.match(text!, /\r\none\r\ntwo\r\n$/);
  });

  it("answers an SmtpError with its own code and any other error with 451 4.3.0, never a stack", async (t) => {
    const { port } = await start(t, {
      backend: memoryBackend({
        async checkSender(address) {
          if (address === "boom@far.test") throw new Error("secret internal detail at /srv/x.ts:12");
        },
      }).backend,
    });
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    await c.command("EHLO client.test");
    const boom = await c.command("MAIL FROM:<boom@far.test>");
    assert.equal(boom.code, 451);
    assert.equal(boom.text, "4.3.0 Temporary local problem, please try again later");
    assert.equal((await c.command("MAIL FROM:<a@far.test>")).code, 250);
    const refused = await c.command("RCPT TO:<nobody@elsewhere.test>");
    assert.deepEqual([refused.code, refused.text], [550, "5.1.1 No such user here"]);
  });

  it("answers 451 4.3.0 when delivery fails with a plain error", async (t) => {
    const { port } = await start(t, {
      backend: memoryBackend({
        async deliver(_envelope, message) {
          message.resume();
          throw new Error("EIO somewhere");
        },
      }).backend,
    });
    const reply = await sendMessage(port, {
      from: "a@far.test",
      to: ["b@ok.test"],
      data: simpleMessage({ from: "a@far.test", to: "b@ok.test", subject: "x" }),
    });
    assert.deepEqual([reply.code, reply.text], [451, "4.3.0 Temporary local problem, please try again later"]);
  });

  it("answers VRFY and EXPN with 502 and does not offer AUTH when it is off", async (t) => {
    const { port } = await start(t);
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    assert.match(c.greeting!.text, /^mx\.test ESMTP/);
    const ehlo = await c.command("EHLO client.test");
    const features = ehlo.lines.map((l) => l.slice(4));
    assert.ok(features.includes("PIPELINING"));
    assert.ok(features.includes("SIZE 65536"));
    assert.ok(!features.some((f) => f.startsWith("AUTH")), "AUTH advertised");
    assert.ok(!features.includes("STARTTLS"), "STARTTLS advertised without a certificate");
    assert.equal((await c.command("VRFY bob@ok.test")).code, 502);
    assert.equal((await c.command("EXPN staff")).code, 502);
    assert.equal((await c.command("AUTH PLAIN AGJvYgBzZWNyZXQ=")).code >= 500, true);
    assert.equal((await c.command("STARTTLS")).code >= 500, true, "no STARTTLS with smtp-server's built-in key");
  });

  it("refuses a declared SIZE over the limit at MAIL, and an undeclared oversize message at the end with 552 5.3.4", async (t) => {
    const { port, deliveries } = await start(t);
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    await c.command("EHLO client.test");
    assert.equal((await c.command("MAIL FROM:<a@far.test> SIZE=70000")).code, 552);
    assert.equal((await c.command("MAIL FROM:<a@far.test>")).code, 250);
    assert.equal((await c.command("RCPT TO:<b@ok.test>")).code, 250);
    const big = `Subject: big\r\n\r\n${"x".repeat(998)}\r\n`.repeat(80);
    const reply = await c.data(big);
    assert.equal(reply.code, 552);
    assert.match(reply.text, /^5\.3\.4 /);
    assert.equal(deliveries.length, 1);
    assert.match(String(deliveries[0]!.error?.message), /5\.3\.4/, "the backend's stream must fail before it ends");
    assert.equal(deliveries[0]!.text, undefined);
    // The session goes on.
    assert.equal((await c.command("NOOP")).code, 250);
  });

  it("allows at most 100 recipients (452 4.5.3) and counts a repeated one once", async (t) => {
    const { port } = await start(t);
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@far.test>");
    for (let i = 0; i < 100; i++) assert.equal((await c.command(`RCPT TO:<u${i}@ok.test>`)).code, 250);
    assert.equal((await c.command("RCPT TO:<u7@ok.test>")).code, 250);
    const over = await c.command("RCPT TO:<u100@ok.test>");
    assert.deepEqual([over.code, over.text.slice(0, 5)], [452, "4.5.3"]);
  });

  it("refuses a message with more than 100 Received headers as a loop (554 5.4.0)", async (t) => {
    const { port, deliveries } = await start(t);
    const trace = Array.from(
      { length: 101 },
      (_, i) => `Received: from hop${i}.test by x; Tue, 24 Nov 2026 00:00:00 +0000`,
    );
    const looping = await sendMessage(port, {
      from: "a@far.test",
      to: ["b@ok.test"],
      data: simpleMessage({ from: "a@far.test", to: "b@ok.test", subject: "loop", headers: trace }),
    });
    assert.deepEqual([looping.code, looping.text.slice(0, 5)], [554, "5.4.0"]);
    const fine = await sendMessage(port, {
      from: "a@far.test",
      to: ["b@ok.test"],
      data: simpleMessage({ from: "a@far.test", to: "b@ok.test", subject: "ok", headers: trace.slice(1) }),
    });
    assert.equal(fine.code, 250);
    // "Received:" in the body is not a header.
    const body = await sendMessage(port, {
      from: "a@far.test",
      to: ["b@ok.test"],
      data: simpleMessage({ from: "a@far.test", to: "b@ok.test", subject: "b", body: trace.join("\r\n") }),
    });
    assert.equal(body.code, 250);
    assert.equal(deliveries.filter((d) => d.text !== undefined).length, 2);
  });

  it("refuses an overlong message line (554 5.6.0) and cuts an overlong command line (421)", async (t) => {
    const { port } = await start(t, { limits: { maxLineLength: 2000, maxCommandLength: 512 } });
    const long = await sendMessage(port, {
      from: "a@far.test",
      to: ["b@ok.test"],
      data: simpleMessage({ from: "a@far.test", to: "b@ok.test", subject: "l", body: "y".repeat(2001) }),
    });
    assert.deepEqual([long.code, long.text.slice(0, 5)], [554, "5.6.0"]);
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    const reply = await c.command(`EHLO ${"h".repeat(600)}`);
    assert.equal(reply.code, 421);
    await c.waitClosed();
  });

  it("answers an early talker with 421 and no greeting", async (t) => {
    const { port, senders } = await start(t);
    const c = await SmtpClient.connect(port, { greeting: false });
    t.after(() => c.close());
    c.write("EHLO spammer.test\r\nMAIL FROM:<s@spam.test>\r\n");
    const reply = await c.read();
    assert.equal(reply.code, 421);
    assert.match(reply.text, /too soon/);
    await c.waitClosed();
    assert.equal(senders.length, 0);
  });

  it("holds the greeting for greetDelayMs and answers a client that talks in that pause with 421", async (t) => {
    const { port, senders } = await start(t, { limits: { greetDelayMs: 600 } });
    const c = await SmtpClient.connect(port, { greeting: false });
    t.after(() => c.close());
    await new Promise((r) => setTimeout(r, 250)); // past smtp-server's own 100 ms, inside ours
    c.write("EHLO impatient.test\r\n");
    const reply = await c.read();
    assert.equal(reply.code, 421);
    await c.waitClosed();
    const patient = await SmtpClient.connect(port);
    t.after(() => patient.close());
    assert.equal(patient.greeting!.code, 220);
    assert.equal(senders.length, 0);
  });

  it("greets an address at once once it has waited out the pause, never after it talked early (greetPassTtlMs)", async (t) => {
    // No stopwatch: which greeting comes first says who waited. A connection with a pass is
    // greeted at once, so it beats one made just before it that has to wait the pause out.
    const { port } = await start(t, { limits: { greetDelayMs: 1500, greetPassTtlMs: 60_000 } });
    const greeted = async (localAddress: string) => {
      const c = await SmtpClient.connect(port, { localAddress, greeting: false });
      t.after(() => c.close());
      const reply = await c.read();
      assert.equal(reply.code, 220);
      return localAddress;
    };
    const firstOf = (...connections: Array<Promise<string>>) => Promise.race(connections);
    const early = await SmtpClient.connect(port, { localAddress: "127.0.0.2", greeting: false });
    t.after(() => early.close());
    early.write("EHLO early.test\r\n");
    assert.equal((await early.read()).code, 421);
    await early.waitClosed(); // closed by the server: its greeting timer is gone, no pass earned
    await greeted("127.0.0.3"); // waits the pause out once: a pass for .3
    const talkedEarly = greeted("127.0.0.2");
    const another = greeted("127.0.0.4");
    assert.equal(
      await firstOf(talkedEarly, another, greeted("127.0.0.3")),
      "127.0.0.3",
      "having waited once, it is greeted at once; the others wait",
    );
    await Promise.all([talkedEarly, another]);
  });

  it("keeps every connection waiting with greetPassTtlMs 0", async (t) => {
    const { port } = await start(t, { limits: { greetDelayMs: 300, greetPassTtlMs: 0 } });
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const c = await SmtpClient.connect(port);
      assert.ok(performance.now() - started >= 250, `connection ${i} waited`);
      c.close();
    }
  });

  it("forgets passes when they expire, and the oldest first past its size", () => {
    const passes = new GreetPasses(50, 2);
    passes.add("192.0.2.1");
    passes.add("192.0.2.2");
    passes.add("192.0.2.3");
    assert.deepEqual(
      ["192.0.2.1", "192.0.2.2", "192.0.2.3"].map((a) => passes.has(a)),
      [false, true, true],
    );
    const expired = new GreetPasses(-1);
    expired.add("192.0.2.4");
    assert.equal(expired.has("192.0.2.4"), false);
  });

  it("greets at once with greetDelayMs 0, instead of smtp-server's fixed 100 ms pause", async (t) => {
    // No stopwatch: a server that pauses its greeting (here 300 ms, asked for first) must greet
    // after the one with no pause, asked a moment later.
    const { port: atOnce } = await start(t, { limits: { greetDelayMs: 0 } });
    const { port: paused } = await start(t, { limits: { greetDelayMs: 300, greetPassTtlMs: 0 } });
    const greeted = async (port: number, name: string) => {
      const c = await SmtpClient.connect(port, { greeting: false });
      t.after(() => c.close());
      assert.equal((await c.read()).code, 220);
      return name;
    };
    for (let i = 0; i < 3; i++) {
      const slow = greeted(paused, "paused");
      assert.equal(await Promise.race([slow, greeted(atOnce, "at once")]), "at once");
      await slow;
    }
  });

  it("answers pipelined commands in order", async (t) => {
    const { port, deliveries } = await start(t);
    const c = await SmtpClient.connect(port);
    t.after(() => c.close());
    await c.command("EHLO client.test");
    c.write("MAIL FROM:<a@far.test>\r\nRCPT TO:<b@ok.test>\r\nRCPT TO:<x@bad.test>\r\nRCPT TO:<c@ok.test>\r\nDATA\r\n");
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.read()).code);
    assert.deepEqual(codes, [250, 250, 550, 250, 354]);
    c.write("Subject: p\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n");
    assert.equal((await c.read()).code, 250);
    assert.equal((await c.read()).code, 250);
    assert.equal((await c.read()).code, 221);
    assert.deepEqual(deliveries[0]!.envelope.recipients, ["b@ok.test", "c@ok.test"]);
  });

  describe("line endings and SMTP smuggling", () => {
    const endings = {
      "<LF>.<LF>": "\n.\n",
      "<CR>.<CR>": "\r.\r",
      "<LF>.<CR><LF>": "\n.\r\n",
      "<CR><LF>.<LF>": "\r\n.\n",
    };
    for (const [name, ending] of Object.entries(endings)) {
      it(`${name} neither ends the message nor starts a second one`, async (t) => {
        const { port, deliveries, senders } = await start(t);
        const c = await SmtpClient.connect(port);
        t.after(() => c.close());
        await c.command("EHLO client.test");
        await c.command("MAIL FROM:<a@far.test>");
        await c.command("RCPT TO:<b@ok.test>");
        assert.equal((await c.command("DATA")).code, 354);
        c.write(
          `Subject: smuggle\r\n\r\nfirst${ending}MAIL FROM:<admin@ok.test>\r\nRCPT TO:<victim@ok.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n`,
        );
        const reply = await c.read();
        assert.equal(reply.code, 250);
        assert.equal((await c.command("QUIT")).code, 221);
        assert.equal(deliveries.length, 1);
        assert.equal(senders.length, 1);
        const text = deliveries[0]!.text!;
        assert.match(text, /first\r\n\.\r\nMAIL FROM:<admin@ok\.test>\r\n/);
        assert.match(text, /Subject: smuggled\r\n\r\nevil\r\n$/);
        assert.deepEqual(deliveries[0]!.envelope.recipients, ["b@ok.test"]);
      });
    }

    it("turns bare LF and bare CR into CRLF line ends, across chunk boundaries too", async (t) => {
      const { port, deliveries } = await start(t);
      const c = await SmtpClient.connect(port);
      t.after(() => c.close());
      await c.command("EHLO client.test");
      await c.command("MAIL FROM:<a@far.test>");
      await c.command("RCPT TO:<b@ok.test>");
      assert.equal((await c.command("DATA")).code, 354);
      c.write("Subject: ends\nX-A: 1\r\rbare lf\nbare cr\rsplit\r");
      await new Promise((r) => setTimeout(r, 20));
      c.write("\nafter\r\n.\r\n");
      assert.equal((await c.read()).code, 250);
      assert.equal(deliveries[0]!.text, "Subject: ends\r\nX-A: 1\r\n\r\nbare lf\r\nbare cr\r\nsplit\r\nafter\r\n");
    });
  });

  describe("connections and timeouts", () => {
    it("limits sessions per address (421 4.7.0) and in total (421 4.3.2), and frees the slots on close", async (t) => {
      const { port, frontEnd } = await start(t, { limits: { maxConnectionsPerIp: 2, maxConnections: 3 } });
      const a = await SmtpClient.connect(port);
      const b = await SmtpClient.connect(port);
      t.after(() => {
        a.close();
        b.close();
      });
      const third = await SmtpClient.connect(port);
      assert.equal(third.greeting!.code, 421);
      assert.match(third.greeting!.text, /^4\.7\.0 /);
      await third.waitClosed();
      const other = await SmtpClient.connect(port, { localAddress: "127.0.0.2" });
      t.after(() => other.close());
      assert.equal(other.greeting!.code, 220);
      const fourth = await SmtpClient.connect(port, { localAddress: "127.0.0.3" });
      assert.deepEqual([fourth.greeting!.code, fourth.greeting!.text.slice(0, 5)], [421, "4.3.2"]);
      fourth.close();
      a.close();
      await until(() => frontEnd.sessions === 2, "a freed session slot", 5000);
      const again = await SmtpClient.connect(port);
      t.after(() => again.close());
      assert.equal(again.greeting!.code, 220);
    });

    it("closes an idle session with 421", async (t) => {
      const { port } = await start(t, { limits: { idleTimeoutMs: 300 } });
      const c = await SmtpClient.connect(port);
      t.after(() => c.close());
      await c.command("EHLO client.test");
      const reply = await c.read();
      assert.equal(reply.code, 421);
      await c.waitClosed();
    });

    it("closes a session that dribbles a command without ending it (command timeout)", async (t) => {
      const { port } = await start(t, { limits: { commandTimeoutMs: 400, idleTimeoutMs: 60_000 } });
      const c = await SmtpClient.connect(port);
      t.after(() => c.close());
      c.write("EH");
      const drip = setInterval(() => c.write("L"), 100);
      t.after(() => clearInterval(drip));
      const reply = await c.read();
      clearInterval(drip);
      assert.deepEqual([reply.code, reply.text.slice(0, 5)], [421, "4.4.2"]);
      await c.waitClosed();
    });
  });

  describe("TLS", () => {
    it("offers STARTTLS with the configured certificate and serves implicit TLS on /tls listeners", async (t) => {
      const { listening, deliveries } = await start(t, { tls: { key: cert.key, cert: cert.cert } }, [
        "127.0.0.1:0",
        "[::1]:0/tls",
      ]);
      const [plain, implicit] = listening.addresses;
      assert.equal(implicit!.implicitTls, true);
      assert.equal(implicit!.boundAddress, "::1");
      const c = await SmtpClient.connect(plain!.boundPort);
      t.after(() => c.close());
      const ehlo = await c.command("EHLO client.test");
      assert.ok(ehlo.lines.some((l) => l.endsWith("STARTTLS")));
      assert.equal((await c.startTls()).code, 220);
      const served = (c.socket as import("node:tls").TLSSocket).getPeerCertificate();
      assert.equal(served.subject.CN, "localhost");
      assert.ok(served.fingerprint256 && cert.cert.length > 0);
      await c.command("EHLO client.test");
      await c.command("MAIL FROM:<a@far.test>");
      await c.command("RCPT TO:<b@ok.test>");
      assert.equal((await c.data("Subject: tls\r\n\r\nx\r\n")).code, 250);
      assert.equal(deliveries[0]!.envelope.protocol, "ESMTPS");
      assert.equal(deliveries[0]!.envelope.session.secure, true);

      const s = await SmtpClient.connect(implicit!.boundPort, { host: "::1", tls: true });
      t.after(() => s.close());
      assert.equal(s.greeting!.code, 220);
      assert.equal((await s.command("EHLO client.test")).code, 250);
    });

    it("refuses an implicit-TLS listener without a certificate instead of using smtp-server's built-in key", async () => {
      const frontEnd = createSmtpFrontEnd({
        backend: memoryBackend().backend,
        logger: silentLogger(),
        hostname: "mx.test",
        maxMessageSize: 1000,
      });
      await assert.rejects(
        listenSmtp(frontEnd, [parseListenSpec("127.0.0.1:0/tls")]),
        /implicit TLS needs a certificate/,
      );
    });
  });

  describe("AUTH (outbound style)", () => {
    const authBackend = () => {
      const memory = memoryBackend({
        async authenticate(username, password) {
          if (username === "down") throw new Error("directory unavailable");
          return username === "sow" && password === "right" ? "sow" : undefined;
        },
        async checkRecipient() {},
      });
      return memory;
    };

    it("offers AUTH only over TLS unless the predicate allows it, and sets SessionInfo.user", async (t) => {
      const memory = authBackend();
      const { port } = await start(t, {
        backend: memory.backend,
        tls: { key: cert.key, cert: cert.cert },
        auth: { enabled: true, allowInsecure: () => false },
      });
      const c = await SmtpClient.connect(port);
      t.after(() => c.close());
      const clear = await c.command("EHLO client.test");
      assert.ok(!clear.lines.some((l) => l.includes("AUTH")));
      assert.ok((await c.command(`AUTH PLAIN ${Buffer.from("\0sow\0right").toString("base64")}`)).code >= 500);
      assert.equal((await c.command("MAIL FROM:<sow@semail.test>")).code, 530);
      await c.startTls();
      const secure = await c.command("EHLO client.test");
      assert.ok(secure.lines.some((l) => l.endsWith("AUTH PLAIN LOGIN")));
      const bad = await c.command(`AUTH PLAIN ${Buffer.from("\0sow\0wrong").toString("base64")}`);
      assert.deepEqual([bad.code, bad.text], [535, "5.7.8 Authentication credentials invalid"]);
      const down = await c.command(`AUTH PLAIN ${Buffer.from("\0down\0x").toString("base64")}`);
      assert.deepEqual([down.code, down.text.slice(0, 5)], [454, "4.7.0"]);
      assert.equal((await c.command(`AUTH PLAIN ${Buffer.from("\0sow\0right").toString("base64")}`)).code, 235);
      assert.equal((await c.command("MAIL FROM:<sow@semail.test>")).code, 250);
      assert.equal(memory.senders.at(-1)!.session.user, "sow");
    });

    it("allows AUTH LOGIN in cleartext where the predicate says so (nodemailer)", async (t) => {
      const memory = authBackend();
      const { port } = await start(t, {
        backend: memory.backend,
        auth: { enabled: true, allowInsecure: (s) => s.remoteAddress === "127.0.0.1" },
      });
      const transport = createTransport({
        host: "127.0.0.1",
        port,
        secure: false,
        ignoreTLS: true,
        auth: { user: "sow", pass: "right" },
        authMethod: "LOGIN",
      });
      const info = await transport.sendMail({ from: "sow@semail.test", to: "x@far.test", subject: "out", text: "x" });
      transport.close();
      assert.match(info.response, /^250 /);
      assert.equal(memory.deliveries[0]!.envelope.session.user, "sow");
      assert.equal(memory.deliveries[0]!.envelope.protocol, "ESMTPA");
    });
  });

  it("fails the backend's stream when the client disconnects mid-message", async (t) => {
    const { port, deliveries } = await start(t);
    const c = await SmtpClient.connect(port);
    await c.command("EHLO client.test");
    await c.command("MAIL FROM:<a@far.test>");
    await c.command("RCPT TO:<b@ok.test>");
    await c.command("DATA");
    c.write("Subject: cut\r\n\r\nhalf a mess");
    await until(() => deliveries.length === 1, "the delivery to start", 5000);
    c.close();
    await until(() => deliveries[0]!.error !== undefined, "the stream to fail", 5000);
    assert.equal(deliveries[0]!.text, undefined);
  });
});
