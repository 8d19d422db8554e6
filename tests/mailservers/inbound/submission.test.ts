// Submission on inbound's public listeners, end to end on loopback: a real slapd, a real
// outbound daemon relaying to an SMTP sink, and the inbound daemon with an MX listener
// (25's role, 127.0.0.1), a STARTTLS submission listener (587's, 127.0.0.2) and an
// implicit-TLS one (465's, 127.0.0.3).
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, describe, it, type TestContext } from "node:test";
import { createTransport } from "nodemailer";
import { createLogger } from "../../../lib/logger.ts";
import { startInbound, type RunningInbound } from "../../../mailservers/inbound/daemon.ts";
import { SmtpClient, simpleMessage } from "../../helpers/smtp.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { sharedPort, startTarget, type Target } from "../../helpers/target-smtp.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { until } from "../../../testkit/until.ts";
import { plain } from "../outbound/daemon-fixture.ts";
import { provision, readMbox, testSettings } from "./fixture.ts";
import { relayingOutbound, SUBMISSION_USERS_YAML } from "./submission-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const alice = TEST_USERS.find((u) => u.uid === "alice")!;
const admin = TEST_USERS.find((u) => u.uid === "admin")!;

const MX = "127.0.0.1";
const STARTTLS = "127.0.0.2";
const IMPLICIT = "127.0.0.3";

const slapd = slapdForFile();
let cert: TestCertificate;
let sink: Target;
before(async () => {
  [cert, sink] = await Promise.all([selfSignedCertificate(), startTarget({ host: "127.0.0.1" })]);
});
after(async () => {
  await Promise.all([cert?.cleanup(), sink?.close()]);
});

const outbound = (t: TestContext, port = 0) => relayingOutbound(t, { slapd, sink, port });

interface Inbound {
  readonly daemon: RunningInbound;
  readonly dir: string;
  /** Port of the listener on `host` (MX, STARTTLS or IMPLICIT). */
  port(host: string): number;
  /** Every log line so far. */
  readonly log: string[];
}

/** The inbound daemon with its three listeners, handing authenticated mail to outbound's `outboundPort`. */
async function inbound(t: TestContext, outboundPort: number): Promise<Inbound> {
  const dir = await tempDir(t, "semail-inbound-");
  const settings = testSettings(
    dir,
    {
      listen: [`${MX}:0`, `${STARTTLS}:0`, `${IMPLICIT}:0/tls`],
      submission: { listen: [`${STARTTLS}:0`, `${IMPLICIT}:0/tls`], outbound: `127.0.0.1:${outboundPort}` },
    },
    { tls: { cert: cert.certFile, key: cert.keyFile }, ldap: slapd.settings() },
  );
  await writeFile(settings.users, SUBMISSION_USERS_YAML);
  await provision(settings.inbound.mailRoot, [
    { owner: "alice", address: "alice@semail.test" },
    { owner: "bob", address: "bob@bob.semail.test" },
  ]);
  const log: string[] = [];
  const daemon = await startInbound(settings, {
    logger: createLogger("trace", "inbound", { write: (line: string) => void log.push(line) }),
    limits: { closeTimeoutMs: 200 },
  });
  t.after(() => daemon.stop());
  return {
    daemon,
    dir: settings.inbound.mailRoot,
    log,
    port: (host) => daemon.addresses.find((a) => a.host === host)!.boundPort,
  };
}

/** A connection on `host` that has said EHLO (after STARTTLS when asked); the EHLO reply's lines. */
async function session(
  t: TestContext,
  f: Inbound,
  host: string,
  tls: "none" | "starttls" | "implicit",
): Promise<{ client: SmtpClient; ehlo: readonly string[] }> {
  const client = await SmtpClient.connect(f.port(host), { host, tls: tls === "implicit" });
  t.after(() => client.close());
  let ehlo = await client.command("EHLO client.test");
  if (tls === "starttls") {
    assert.equal((await client.startTls()).code, 220);
    ehlo = await client.command("EHLO client.test");
  }
  return { client, ehlo: ehlo.lines };
}

/** A session on `host` logged in as alice (by `login`), MAIL FROM `from` taken. */
async function aliceSending(
  t: TestContext,
  f: Inbound,
  host: string,
  tls: "starttls" | "implicit",
  login: string,
  from: string,
): Promise<SmtpClient> {
  const { client } = await session(t, f, host, tls);
  assert.equal((await client.command(`AUTH PLAIN ${plain(login, alice.password)}`)).code, 235);
  assert.equal((await client.command(`MAIL FROM:<${from}>`)).code, 250);
  return client;
}

const offersAuth = (ehlo: readonly string[]) => ehlo.some((line) => /^250[ -]AUTH /.test(line));
/** Subjects of the messages the sink got after the first `from`. */
const subjects = (from: number) =>
  sink.messages.slice(from).map((m) => /^Subject: (.*)$/m.exec(m.raw.toString("latin1"))?.[1]);

describe("submission on inbound's 587 and 465", () => {
  it("AUTH is not offered on 25, nor on 587 before STARTTLS; it is after STARTTLS and on 465", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    for (const tls of ["none", "starttls"] as const) {
      const { client, ehlo } = await session(t, f, MX, tls);
      assert.ok(!offersAuth(ehlo), `25 (${tls}): ${ehlo.join(" | ")}`);
      assert.ok(
        (await client.command(`AUTH PLAIN ${plain("alice", alice.password)}`)).code >= 500,
        `25 (${tls}) refuses AUTH`,
      );
    }
    const before = await session(t, f, STARTTLS, "none");
    assert.ok(!offersAuth(before.ehlo), before.ehlo.join(" | "));
    assert.ok(
      (await before.client.command(`AUTH PLAIN ${plain("alice", alice.password)}`)).code >= 500,
      "587 refuses AUTH before STARTTLS",
    );
    assert.ok(offersAuth((await session(t, f, STARTTLS, "starttls")).ehlo));
    assert.ok(offersAuth((await session(t, f, IMPLICIT, "implicit")).ehlo));
  });

  it("alice sends through 587 (uid login) and 465 (address login): outbound relays it to the sink, and its 250 is the client's", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const before = sink.messages.length;
    const starttls = createTransport({
      host: STARTTLS,
      port: f.port(STARTTLS),
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "alice", pass: alice.password },
      name: "laptop.example",
    });
    const implicit = createTransport({
      host: IMPLICIT,
      port: f.port(IMPLICIT),
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: "Alice@SEMAIL.test", pass: alice.password },
      name: "phone.example",
    });
    t.after(() => {
      starttls.close();
      implicit.close();
    });
    const sent = [
      await starttls.sendMail({
        from: "alice@semail.test",
        to: "friend@example.net",
        subject: "via 587",
        text: "hello\n",
      }),
      await implicit.sendMail({
        from: "alice@semail.test",
        to: ["friend@example.net", "other@example.net"],
        subject: "via 465",
        text: "hello\n",
      }),
    ];
    for (const info of sent)
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/, "outbound's own reply, queue id and all");
    await until(() => sink.messages.length === before + 2, "both messages at the sink");
    const got = sink.messages.slice(before);
    assert.deepEqual(subjects(before).sort(), ["via 465", "via 587"]);
    const via465 = got.find((m) => m.raw.includes("Subject: via 465"))!;
    assert.equal(via465.mailFrom, "alice@semail.test");
    assert.deepEqual(via465.recipients.sort(), ["friend@example.net", "other@example.net"]);
    // Outbound's Received line above inbound's, which names the client and says ESMTPSA.
    const trace = via465.raw
      .toString("latin1")
      .split("\r\n")
      .filter((l) => /^(Received:|\tby )/.test(l));
    assert.match(trace[0]!, /^Received: from mx\.semail\.test \(\[127\.0\.0\.1\]\)/);
    assert.match(
      trace.join("\n"),
      /Received: from phone\.example \(\[127\.0\.0\.1\]\)\n\tby mx\.semail\.test \(SEMail\) with ESMTPSA id /,
    );
    // The password never reaches a log line, even at trace level.
    await until(() => f.log.some((line) => line.includes('"handed to outbound"')), "the hand-off's log line");
    assert.ok(!f.log.some((line) => line.includes(alice.password)), "no log line holds the password");
  });

  it("a sender that is not hers is refused at MAIL, before any body, on 587 and 465: outbound's 553 5.7.1, and nothing reaches outbound", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const before = sink.messages.length;
    for (const [host, tls] of [
      [STARTTLS, "starttls"],
      [IMPLICIT, "implicit"],
    ] as const) {
      const { client } = await session(t, f, host, tls);
      assert.equal((await client.command(`AUTH PLAIN ${plain("alice@semail.test", alice.password)}`)).code, 235);
      for (const [from, text] of [
        ["bob@bob.semail.test", "5.7.1 Sender <bob@bob.semail.test> is not an address of alice"],
        ["ceo@gmail.com", "5.7.1 Sender <ceo@gmail.com> is not an address of alice"],
        ["", "5.7.1 The null sender <> is for bounces; send from one of your addresses"],
      ]) {
        const reply = await client.command(`MAIL FROM:<${from}>`);
        assert.deepEqual([reply.code, reply.text], [553, text], `${tls}: <${from}>`);
      }
      // The session goes on: her own address works next.
      assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
      assert.equal((await client.command("RCPT TO:<friend@example.net>")).code, 250);
      assert.equal(
        (
          await client.data(
            simpleMessage({ from: "alice@semail.test", to: "friend@example.net", subject: `own via ${tls}` }),
          )
        ).code,
        250,
      );
    }
    // A claim not proven yet is named as such, as outbound names it.
    const { client } = await session(t, f, STARTTLS, "starttls");
    assert.equal((await client.command(`AUTH PLAIN ${plain("admin", admin.password)}`)).code, 235);
    const pending = await client.command("MAIL FROM:<carol@carol.example>");
    assert.equal(pending.code, 553);
    assert.match(
      pending.text,
      /^5\.7\.1 Sender <carol@carol\.example> is not usable yet: admin has not proven control of carol\.example/,
    );
    await until(() => sink.messages.length === before + 2, "her own two messages at the sink");
    assert.deepEqual(subjects(before).sort(), ["own via implicit", "own via starttls"]);
    // Only her own two messages were handed over: outbound never saw the refused senders.
    assert.equal(
      f.log.filter((line) => line.includes('"part":"handoff"')).length,
      2,
      f.log.filter((line) => line.includes("handoff")).join("\n"),
    );
  });

  it("a header From: that is not hers gets outbound's 550 5.7.1 naming the address, on 587 and 465, and nothing is sent", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const before = sink.messages.length;
    const transports = [
      createTransport({
        host: STARTTLS,
        port: f.port(STARTTLS),
        secure: false,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
        auth: { user: "alice", pass: alice.password },
      }),
      createTransport({
        host: IMPLICIT,
        port: f.port(IMPLICIT),
        secure: true,
        tls: { rejectUnauthorized: false },
        auth: { user: "alice@semail.test", pass: alice.password },
      }),
    ];
    t.after(() => {
      for (const transport of transports) transport.close();
    });
    for (const [index, transport] of transports.entries()) {
      for (const [from, response] of [
        ["CEO <ceo@gmail.com>", "550 5.7.1 From: address <ceo@gmail.com> is not an address of alice"],
        [
          '"bob@bob.semail.test" <alice@semail.test>',
          "550 5.7.1 From: header shows bob@bob.semail.test, which is not an address of alice",
        ],
      ]) {
        await assert.rejects(
          transport.sendMail({
            envelope: { from: "alice@semail.test", to: ["friend@example.net"] },
            from,
            to: "friend@example.net",
            subject: "forged",
            text: "Wire the money.\n",
          }),
          (err: { responseCode?: number; response?: string }) => {
            assert.deepEqual([err.responseCode, err.response], [550, response], `transport ${index}: ${from}`);
            return true;
          },
        );
      }
    }
    assert.equal(out.queue.size, 0, "outbound kept nothing");
    assert.equal(sink.messages.length, before);
  });

  it("a recipient outbound refuses refuses the whole message: no 250 that drops someone", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const before = sink.messages.length;
    const client = await aliceSending(t, f, IMPLICIT, "implicit", "alice", "alice@semail.test");
    assert.equal((await client.command("RCPT TO:<friend@example.net>")).code, 250);
    assert.equal(
      (await client.command("RCPT TO:<bob@[192.0.2.1]>")).code,
      250,
      "inbound leaves the judgement to outbound",
    );
    const reply = await client.data(
      simpleMessage({ from: "alice@semail.test", to: "friend@example.net", subject: "partial" }),
    );
    assert.equal(reply.code, 553, reply.text);
    assert.match(reply.text, /^5\.1\.3 Recipient <bob@\[192\.0\.2\.1\]> refused: address literals are not relayed$/);
    assert.equal(out.queue.size, 0, "outbound kept nothing");
    assert.equal(sink.messages.length, before);
  });

  it("a wrong password, an unknown address and a pending address all get the same 535", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const attempts: Array<[string, string]> = [
      ["alice", "wrong"],
      ["alice@semail.test", "wrong"],
      ["nobody@semail.test", alice.password],
      // admin's own password, for admin's own address: not live until its domain is proven.
      ["carol@carol.example", admin.password],
    ];
    for (const [login, password] of attempts) {
      const { client } = await session(t, f, STARTTLS, "starttls");
      const reply = await client.command(`AUTH PLAIN ${plain(login, password)}`);
      assert.deepEqual([reply.code, reply.text], [535, "5.7.8 Authentication credentials invalid"], login);
    }
    // admin itself logs in; the uid never stopped working.
    const { client } = await session(t, f, STARTTLS, "starttls");
    assert.equal((await client.command(`AUTH PLAIN ${plain("admin", admin.password)}`)).code, 235);
  });

  it("outbound takes the same logins itself: uid, mailbox address, and the same 535 for a pending one", async (t) => {
    const out = await outbound(t);
    for (const [login, password, code] of [
      ["alice", alice.password, 235],
      ["ALICE@semail.test", alice.password, 235],
      ["carol@carol.example", admin.password, 535],
    ] as const) {
      const client = await SmtpClient.connect(out.addresses[0]!.boundPort);
      t.after(() => client.close());
      await client.command("EHLO client.test");
      assert.equal((await client.command(`AUTH PLAIN ${plain(login, password)}`)).code, code, login);
    }
  });

  it("without AUTH, 587 is an MX session: local mailboxes only, never a relay", async (t) => {
    const out = await outbound(t);
    const f = await inbound(t, out.addresses[0]!.boundPort);
    const { client } = await session(t, f, STARTTLS, "starttls");
    assert.equal((await client.command("MAIL FROM:<stranger@example.org>")).code, 250);
    const relay = await client.command("RCPT TO:<victim@example.net>");
    assert.deepEqual([relay.code, relay.text.slice(0, 5)], [550, "5.7.1"]);
    assert.equal((await client.command("RCPT TO:<alice@semail.test>")).code, 250);
    assert.equal(
      (
        await client.data(
          simpleMessage({ from: "stranger@example.org", to: "alice@semail.test", subject: "for alice" }),
        )
      ).code,
      250,
    );
    assert.deepEqual(
      (await readMbox(`${f.dir}/alice/INBOX`)).map((m) => m.subject),
      ["for alice"],
    );
  });

  it("outbound down: 451 and nothing kept; the client's retry goes through once outbound is back", async (t) => {
    const port = await sharedPort(["127.0.0.1"]);
    const f = await inbound(t, port);
    const before = sink.messages.length;
    const message = simpleMessage({ from: "alice@semail.test", to: "friend@example.net", subject: "retried" });
    const attempt = async () => {
      const client = await aliceSending(t, f, STARTTLS, "starttls", "alice", "alice@semail.test");
      assert.equal((await client.command("RCPT TO:<friend@example.net>")).code, 250);
      return client.data(message);
    };
    const down = await attempt();
    assert.deepEqual([down.code, down.text], [451, "4.4.1 Submission service unavailable, try again later"]);
    assert.deepEqual(await readMbox(`${f.dir}/alice/INBOX`), [], "nothing stored instead");
    await outbound(t, port);
    assert.equal((await attempt()).code, 250);
    await until(() => sink.messages.length === before + 1, "the retried message at the sink");
    assert.deepEqual(subjects(before), ["retried"]);
  });
});
