// Envelope addresses judged by their bytes: the pure rule, then raw bytes over a socket to
// the inbound daemon (smtp-server would turn 0xff and 0xfe into one U+FFFD before any hook).
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { addressProblem } from "../../../mailservers/core/address-bytes.ts";
import { SmtpClient, simpleMessage, type Reply } from "../../helpers/smtp.ts";
import { readMbox, startFixture, type InboundFixture } from "../inbound/fixture.ts";

/** Bytes from pieces: strings as UTF-8, arrays as raw bytes. */
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));
/** [code, enhanced code] of a reply, or of addressProblem's refusal. */
const codes = (reply: Reply) => [reply.code, reply.text.slice(0, 5)];
const problem = (...args: Parameters<typeof addressProblem>) => {
  const refusal = addressProblem(...args);
  return refusal && [refusal.responseCode, refusal.enhancedCode];
};

describe("addressProblem", () => {
  it("refuses invalid UTF-8 in the address as bad address syntax, with or without SMTPUTF8", () => {
    for (const smtpUtf8 of [false, true]) {
      assert.deepEqual(problem("MAIL", bytes("MAIL FROM:<", [0xff], "-R@x.example>"), "\ufffd-R@x.example", smtpUtf8), [
        553,
        "5.1.7",
      ]);
      assert.deepEqual(problem("RCPT", bytes("RCPT TO:<a@x", [0xfe], ".example>"), "a@x\ufffd.example", smtpUtf8), [
        553,
        "5.1.3",
      ]);
      // A surrogate written in UTF-8's three-byte form is not UTF-8 either.
      assert.deepEqual(
        problem(
          "MAIL",
          bytes("MAIL FROM:<", [0xed, 0xa0, 0x80], "@x.example>"),
          "\ufffd\ufffd\ufffd@x.example",
          smtpUtf8,
        ),
        [553, "5.1.7"],
      );
    }
  });

  it("refuses invalid UTF-8 in the parameters with 501 5.5.4", () => {
    assert.deepEqual(problem("MAIL", bytes("MAIL FROM:<a@x.example> SMTPUTF8 ENVID=", [0xff]), "a@x.example", true), [
      501,
      "5.5.4",
    ]);
    assert.deepEqual(
      problem("RCPT", bytes("RCPT TO:<a@x.example> ORCPT=rfc822;", [0xfe], "@x"), "a@x.example", false),
      [501, "5.5.4"],
    );
  });

  it("wants SMTPUTF8 for a non-ASCII address: 550 5.6.7 at MAIL, 553 5.6.7 at RCPT (RFC 6531 3.5)", () => {
    assert.deepEqual(problem("MAIL", bytes("MAIL FROM:<jösé@exämple.org>"), "jösé@exämple.org", false), [550, "5.6.7"]);
    assert.deepEqual(problem("RCPT", bytes("RCPT TO:<ädä@semail.test>"), "ädä@semail.test", false), [553, "5.6.7"]);
    assert.equal(
      addressProblem("MAIL", bytes("MAIL FROM:<jösé@exämple.org> SMTPUTF8"), "jösé@exämple.org", true),
      undefined,
    );
    // An encoded U+FFFD is a character like any other.
    assert.equal(
      addressProblem("MAIL", bytes("MAIL FROM:<\ufffd-R@x.example> SMTPUTF8"), "\ufffd-R@x.example", true),
      undefined,
    );
  });

  it("accepts smtp-server's decoding of an A-label only when it is the U-label's own encoding", () => {
    const mail = (domain: string, decoded: string) =>
      addressProblem("MAIL", bytes(`MAIL FROM:<a@${domain}>`), `a@${decoded}`, false);
    assert.equal(mail("xn--bcher-kva.example", "bücher.example"), undefined);
    assert.equal(mail("xn--ls8h.example", "💩.example"), undefined);
    assert.equal(mail("xn--LS8H.example", "💩.example"), undefined, "A-labels are case-insensitive");
    assert.equal(mail("[IPv6:0:0::1]", "[IPv6:::1]"), undefined, "smtp-server's normal form of an IPv6 literal");
    assert.equal(
      mail("example.xn--abc-", "example.abc")?.responseCode,
      553,
      "not an A-label: would merge with example.abc",
    );
    assert.equal(mail("xn--ib9b.example", "\ud800.example")?.responseCode, 553, "a lone surrogate");
    assert.equal(
      addressProblem("MAIL", bytes("MAIL FROM:<a@b\u3002c> SMTPUTF8"), "a@b.c", true)?.responseCode,
      553,
      "U+3002 turned into a dot",
    );
    assert.equal(
      addressProblem("MAIL", bytes("MAIL FROM:<@relay.example:a@x.example>"), "a@x.example", false),
      undefined,
      "a source route is dropped",
    );
  });

  it("without the line's bytes, refuses every U+FFFD and lone surrogate", () => {
    assert.equal(
      addressProblem("MAIL", undefined, "\ufffd-R@x.example", true)?.message,
      "5.1.7 Bad sender address syntax: not valid UTF-8",
    );
    assert.equal(addressProblem("RCPT", undefined, "a@\udc00.example", true)?.responseCode, 553);
    assert.equal(addressProblem("RCPT", undefined, "ädä@semail.test", true), undefined);
  });
});

describe("invalid UTF-8 over SMTP (inbound daemon, raw bytes)", () => {
  const CRLF = Buffer.from("\r\n");

  async function session(
    t: TestContext,
    f: InboundFixture,
  ): Promise<{ send: (line: Buffer | string) => Promise<Reply>; c: SmtpClient }> {
    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    assert.equal((await c.command("EHLO client.example")).code, 250);
    const send = (line: Buffer | string) => {
      c.write(Buffer.concat([typeof line === "string" ? Buffer.from(line, "utf8") : line, CRLF]));
      return c.read();
    };
    return { send, c };
  }

  /** Every mbox file under the mail root that holds mail (not the empty INBOXes provisioning made). */
  async function stored(f: InboundFixture): Promise<string[]> {
    const entries = await readdir(f.mailRoot, { recursive: true, withFileTypes: true });
    const out: string[] = [];
    for (const e of entries) {
      const file = path.join(e.parentPath, e.name);
      if (e.isFile() && !e.name.startsWith(".") && (await readMbox(file)).length > 0)
        out.push(path.relative(f.mailRoot, file));
    }
    return out.sort();
  }

  it("answers 0xff and 0xfe in MAIL FROM with 553 5.1.7, with and without SMTPUTF8", async (t) => {
    const f = await startFixture(t);
    const { send } = await session(t, f);
    for (const bad of [0xff, 0xfe]) {
      for (const params of ["", " SMTPUTF8"]) {
        const reply = await send(bytes("MAIL FROM:<", [bad], `-R@x.example>${params}`));
        assert.deepEqual(codes(reply), [553, "5.1.7"], `0x${bad.toString(16)}${params}`);
        assert.match(reply.text, /not valid UTF-8/);
      }
    }
    // No transaction was opened: a good MAIL is the first one.
    assert.equal((await send("MAIL FROM:<a@x.example>")).code, 250);
  });

  it("answers 0xff and 0xfe in RCPT TO with 553 5.1.3, with and without SMTPUTF8", async (t) => {
    const f = await startFixture(t);
    const { send } = await session(t, f);
    for (const params of ["", " SMTPUTF8"]) {
      assert.equal((await send(`MAIL FROM:<a@x.example>${params}`)).code, 250);
      for (const bad of [0xff, 0xfe]) {
        assert.deepEqual(
          codes(await send(bytes("RCPT TO:<ada", [bad], "@semail.test>"))),
          [553, "5.1.3"],
          `local part 0x${bad.toString(16)}${params}`,
        );
        assert.deepEqual(
          codes(await send(bytes("RCPT TO:<ada@semail.test", [bad], ">"))),
          [553, "5.1.3"],
          `domain 0x${bad.toString(16)}${params}`,
        );
      }
      assert.equal((await send("RCPT TO:<ada@semail.test>")).code, 250);
      assert.equal((await send("RSET")).code, 250);
    }
  });

  it("answers 0xff in a parameter with 501 5.5.4", async (t) => {
    const f = await startFixture(t);
    const { send } = await session(t, f);
    assert.deepEqual(codes(await send(bytes("MAIL FROM:<a@x.example> ENVID=", [0xff]))), [501, "5.5.4"]);
    assert.equal((await send("MAIL FROM:<a@x.example>")).code, 250);
    assert.deepEqual(codes(await send(bytes("RCPT TO:<ada@semail.test> ORCPT=rfc822;", [0xfe], "@x.example"))), [
      501,
      "5.5.4",
    ]);
  });

  it("wants SMTPUTF8 for a non-ASCII address: 550 5.6.7 at MAIL, 553 5.6.7 at RCPT; A-labels are ASCII", async (t) => {
    const f = await startFixture(t);
    const { send } = await session(t, f);
    assert.deepEqual(codes(await send("MAIL FROM:<jösé@exämple.org>")), [550, "5.6.7"]);
    assert.equal((await send("MAIL FROM:<a@xn--bcher-kva.example>")).code, 250);
    assert.deepEqual(codes(await send("RCPT TO:<ädä@semail.test>")), [553, "5.6.7"]);
    assert.equal((await send("RSET")).code, 250);
    assert.equal((await send("MAIL FROM:<jösé@exämple.org> SMTPUTF8")).code, 250);
    // Past the byte rules, the recipient policy answers.
    assert.deepEqual(codes(await send("RCPT TO:<ädä@semail.test>")), [550, "5.1.1"]);
  });

  it("refuses an A-label that does not decode to its own U-label (553 5.1.7 / 5.1.3)", async (t) => {
    const f = await startFixture(t);
    const { send } = await session(t, f);
    // xn--ib9b and xn--r49b decode to two lone surrogates, xn--abc- to plain "abc".
    for (const domain of ["xn--ib9b.example", "xn--r49b.example", "example.xn--abc-"]) {
      assert.deepEqual(codes(await send(`MAIL FROM:<a@${domain}>`)), [553, "5.1.7"], domain);
    }
    assert.equal((await send("MAIL FROM:<a@x.example>")).code, 250);
    assert.deepEqual(codes(await send("RCPT TO:<ada@xn--ib9b.semail.test>")), [553, "5.1.3"]);
  });

  it("stores senders that differ in one byte in two folders, and nothing from invalid UTF-8", async (t) => {
    const f = await startFixture(t);
    const deliver = async (from: Buffer) => {
      const { send, c } = await session(t, f);
      const mail = await send(Buffer.concat([bytes("MAIL FROM:<"), from, bytes("> SMTPUTF8")]));
      if (mail.code !== 250) return mail;
      assert.equal((await send("RCPT TO:<ada@semail.test>")).code, 250);
      return c.data(simpleMessage({ from: "x@x.example", to: "ada@semail.test", subject: from.toString("hex") }));
    };
    // The review's two senders: one U+FFFD each after smtp-server's decoding.
    for (const bad of [0xff, 0xfe])
      assert.deepEqual(codes(await deliver(bytes([bad], "-R@x.example"))), [553, "5.1.7"]);
    // ÿ, þ and U+FFFD itself, each well encoded: three senders, three folders.
    const good = ["ÿ-R@x.example", "þ-R@x.example", "\ufffd-R@x.example"];
    for (const from of good) assert.equal((await deliver(bytes(from))).code, 250, from);
    const folders = (await stored(f)).filter((p) => p.startsWith("ada/mail/"));
    assert.deepEqual(folders, good.map((s) => path.relative(f.mailRoot, f.folder("ada", "ada@semail.test", s))).sort());
    assert.deepEqual(
      folders.map((p) => path.basename(p)),
      [
        "ada@semail.test,=c3=be-r@x.example",
        "ada@semail.test,=c3=bf-r@x.example",
        "ada@semail.test,=ef=bf=bd-r@x.example",
      ],
    );
    for (const folder of folders) assert.equal((await readMbox(path.join(f.mailRoot, folder))).length, 1, folder);
    assert.equal((await readMbox(f.inbox("ada"))).length, good.length);
  });
});
