// Authentication on arrival, end to end: the real inbound daemon over SMTP, its checks asking
// the test's own named (zone "test": SPF, DKIM keys and DMARC policies of the sending domains),
// messages signed here by the signer SEMail's outbound daemon uses, read back from the mbox
// files with Python's mailbox module.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { sealMessage } from "mailauth";
import { after, before, describe, it, type TestContext } from "node:test";
import { txtData } from "../../../../config/stack/zone-file.ts";
import { createDkimSigner } from "../../../../mailservers/outbound/relay/delivery/dkim.ts";
import { startTestNamed, zoneText } from "../../../helpers/named.ts";
import { sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { readMbox, startFixture, type InboundFixture } from "../fixture.ts";
import { tempFiles } from "../store/fixture.ts";
import { HELD_IN_MEMORY } from "../../../../mailservers/inbound/auth/held-message.ts";
import type { RunningNamed } from "../../../../deploy/local/named.ts";

const RECIPIENT = "souleymane@sow.semail.test";
const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicKey = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");
const signer = createDkimSigner([{ domain: "good.test", selector: "sel", privateKey }]);

/** The Internet as the daemon sees it: the senders' records, all under the zone "test". */
const RECORDS = [
  // good.test: this client may send for it (SPF), signs with sel (DKIM), and rejects the rest (DMARC).
  `good IN TXT ${txtData("v=spf1 ip4:127.0.0.0/8 -all")}`,
  `sel._domainkey.good IN TXT ${txtData(`v=DKIM1; k=rsa; p=${publicKey}`)}`,
  `_dmarc.good IN TXT ${txtData("v=DMARC1; p=reject")}`,
  // reject.test and quarantine.test send only from 192.0.2.1, with those policies.
  `reject IN TXT ${txtData("v=spf1 ip4:192.0.2.1 -all")}`,
  `_dmarc.reject IN TXT ${txtData("v=DMARC1; p=reject")}`,
  `quarantine IN TXT ${txtData("v=spf1 ip4:192.0.2.1 -all")}`,
  `_dmarc.quarantine IN TXT ${txtData("v=DMARC1; p=quarantine")}`,
  // nodmarc.test: SPF that fails here, no DMARC record.
  `nodmarc IN TXT ${txtData("v=spf1 ip4:192.0.2.1 -all")}`,
];

let named: RunningNamed;
before(async () => {
  named = await startTestNamed([{ name: "test", text: zoneText("test", RECORDS) }]);
});
after(() => named?.stop());

/** A daemon that checks mail from loopback (tests send from there) against named. */
function start(t: TestContext, inbound: Record<string, unknown> = {}): Promise<InboundFixture> {
  return startFixture(t, { inbound: { resolver: named.server, uncheckedNetworks: [], ...inbound } });
}

async function signed(message: string): Promise<Buffer> {
  return buffer(signer.sign(Readable.from([Buffer.from(message)]), "good.test"));
}

const junk = (f: InboundFixture, owner: string) => path.join(f.mailRoot, owner, "mail", "Junk");

async function size(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => -1,
  );
}

/** The Authentication-Results fields of a stored message, unfolded. */
function results(message: { headers: [string, string][] }): string[] {
  return message.headers
    .filter(([k]) => k.toLowerCase() === "authentication-results")
    .map(([, v]) => v.replace(/\s+/g, " "));
}

async function onlyMessage(file: string) {
  const messages = await readMbox(file);
  assert.equal(messages.length, 1, `${file}: ${messages.length} messages`);
  return messages[0]!;
}

describe("authentication on arrival", () => {
  it("passes SPF, DKIM and DMARC for a signed message from an allowed address, and stores it byte for byte under one Authentication-Results", async (t) => {
    const f = await start(t);
    const sent = await signed(
      simpleMessage({
        from: "alice@good.test",
        to: RECIPIENT,
        subject: "signed",
        body: "Hello,\r\n  spaced  body\r\n",
      }),
    );
    const reply = await sendMessage(f.port, { from: "alice@good.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    for (const file of [f.inbox("sow"), f.folder("sow", RECIPIENT, "alice@good.test")]) {
      const message = await onlyMessage(file);
      const [ours, ...others] = results(message);
      assert.equal(others.length, 0, "exactly one Authentication-Results");
      assert.match(ours!, /^mx\.semail\.test; /);
      assert.match(ours!, /\bspf=pass\b[^;]*smtp\.mailfrom=alice@good\.test/);
      assert.match(ours!, /\bdkim=pass\b[^;]*header\.i=@good\.test header\.s=sel/);
      assert.match(ours!, /\bdmarc=pass\b[^;]*header\.from=good\.test/);
    }
    // Everything after our field is the message as sent (mboxo: LF endings, one blank line after).
    const raw = await readFile(f.inbox("sow"), "latin1");
    const rest = raw
      .slice(raw.search(/^Authentication-Results: /m))
      .replace(/^Authentication-Results: .*\n(?:[ \t].*\n)*/, "");
    assert.equal(rest, `${sent.toString("latin1").replace(/\r\n/g, "\n")}\n`);
  });

  it("checks a message too large to hold in memory from its temp file, which is gone after", async (t) => {
    const f = await start(t);
    const body = `${"x".repeat(998)}\r\n`.repeat(200);
    const sent = await signed(simpleMessage({ from: "alice@good.test", to: RECIPIENT, subject: "large", body }));
    assert.ok(sent.length > HELD_IN_MEMORY);
    const reply = await sendMessage(f.port, { from: "alice@good.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const raw = await readFile(f.inbox("sow"), "latin1");
    assert.match(raw, /^Authentication-Results: mx\.semail\.test;\n dkim=pass /m);
    assert.ok(raw.includes(sent.toString("latin1").replace(/\r\n/g, "\n")), "the message as sent");
    assert.deepEqual(await tempFiles(f.mailRoot), []);
  });

  it("verifies the ARC chain a forwarder sealed", async (t) => {
    const f = await start(t);
    const original = Buffer.from(simpleMessage({ from: "alice@good.test", to: RECIPIENT, subject: "forwarded" }));
    const seal = await sealMessage(original, {
      signingDomain: "good.test",
      selector: "sel",
      privateKey,
      authResults: "lists.good.test; spf=pass smtp.mailfrom=alice@good.test",
      cv: "none",
    });
    for (const body of ["Hello.", "Hello, changed after the seal."]) {
      const sent = Buffer.concat([seal, original]).toString("latin1").replace("Hello.", body);
      const reply = await sendMessage(f.port, { from: "alice@good.test", to: [RECIPIENT], data: sent });
      assert.equal(reply.code, 250, reply.text);
    }
    const [kept, changed] = (await readMbox(f.inbox("sow"))).map((m) => results(m)[0]!);
    assert.match(kept!, /\barc=pass \(i=1 spf=pass\)/);
    assert.match(changed!, /\barc=fail\b/);
  });

  it("records a failing SPF and delivers when the domain has no DMARC policy", async (t) => {
    const f = await start(t);
    const sent = simpleMessage({ from: "bob@nodmarc.test", to: RECIPIENT, subject: "spf fails" });
    const reply = await sendMessage(f.port, { from: "bob@nodmarc.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const [ours] = results(await onlyMessage(f.inbox("sow")));
    assert.match(ours!, /\bspf=fail\b[^;]*smtp\.mailfrom=bob@nodmarc\.test/);
    assert.match(ours!, /\bdkim=none\b/);
    assert.match(ours!, /\bdmarc=none\b/);
  });

  it("does not pass a signature whose body was changed after signing (body hash)", async (t) => {
    const f = await start(t);
    const sent = (await signed(simpleMessage({ from: "alice@good.test", to: RECIPIENT, subject: "tampered" })))
      .toString("latin1")
      .replace("Hello.", "Hello, changed.");
    const reply = await sendMessage(f.port, { from: "alice@good.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const [ours] = results(await onlyMessage(f.inbox("sow")));
    assert.match(ours!, /\bdkim=(?:neutral|fail) \(body hash did not verify\)[^;]*header\.i=@good\.test/);
    // SPF still passes aligned with the From domain, so DMARC does.
    assert.match(ours!, /\bspf=pass\b/);
    assert.match(ours!, /\bdmarc=pass\b/);
  });

  it("removes arriving Authentication-Results that claim this server's authserv-id, and keeps other servers'", async (t) => {
    const f = await start(t);
    const sent = await signed(
      simpleMessage({
        from: "alice@good.test",
        to: RECIPIENT,
        subject: "forged",
        headers: [
          "Authentication-Results: mx.semail.test; spf=pass smtp.mailfrom=ceo@good.test; dkim=pass; dmarc=pass",
          "Authentication-Results: relay.example; dkim=pass header.d=good.test",
          "Authentication-Results:\r\n\t(forged, folded) MX.SEMAIL.TEST;\r\n\tdmarc=pass header.from=bank.example",
        ],
      }),
    );
    const reply = await sendMessage(f.port, { from: "alice@good.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const message = await onlyMessage(f.inbox("sow"));
    const all = results(message);
    assert.equal(all.length, 2, all.join("\n"));
    assert.match(all[0]!, /^mx\.semail\.test; .*dkim=pass.*dmarc=pass/);
    assert.equal(all[1], "relay.example; dkim=pass header.d=good.test");
    const raw = await readFile(f.inbox("sow"), "latin1");
    assert.doesNotMatch(raw, /ceo@good\.test|bank\.example/);
  });

  it("refuses with 550 5.7.1 at DATA a message that fails DMARC of a p=reject domain, and stores nothing", async (t) => {
    const f = await start(t);
    const sent = simpleMessage({ from: "ceo@reject.test", to: RECIPIENT, subject: "wire the money" });
    const reply = await sendMessage(f.port, { from: "ceo@reject.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 550, reply.text);
    assert.match(reply.text, /^5\.7\.1 .*reject\.test .*DMARC p=reject/);
    assert.equal(await size(f.inbox("sow")), 0);
    assert.deepEqual(await readdir(path.join(f.mailRoot, "sow", "mail")).catch(() => []), []);
  });

  it("delivers a message failing DMARC of a p=quarantine domain into Junk only (mail/Junk, beside INBOX)", async (t) => {
    const f = await start(t);
    const sent = simpleMessage({ from: "x@quarantine.test", to: RECIPIENT, subject: "maybe spam" });
    const reply = await sendMessage(f.port, { from: "x@quarantine.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    assert.equal(await size(f.inbox("sow")), 0, "not in INBOX");
    assert.equal(await size(f.folder("sow", RECIPIENT, "x@quarantine.test")), -1, "not in the pair folder");
    const message = await onlyMessage(junk(f, "sow"));
    assert.equal(message.subject, "maybe spam");
    assert.match(results(message)[0]!, /\bdmarc=fail\b.*header\.from=quarantine\.test/);
  });

  it("delivers a p=reject failure to INBOX, verdict recorded, when enforcement is off", async (t) => {
    const f = await start(t, { dmarcEnforce: false });
    const sent = simpleMessage({ from: "ceo@reject.test", to: RECIPIENT, subject: "not enforced" });
    const reply = await sendMessage(f.port, { from: "ceo@reject.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const [ours] = results(await onlyMessage(f.inbox("sow")));
    assert.match(ours!, /\bspf=fail\b/);
    assert.match(ours!, /\bdmarc=fail\b.*header\.from=reject\.test/);
  });

  it("leaves this host's own mail (loopback, unchecked by default) unchecked, without a header, forged fields still removed", async (t) => {
    const f = await startFixture(t);
    const sent = simpleMessage({
      from: "ceo@reject.test",
      to: RECIPIENT,
      subject: "local",
      headers: ["Authentication-Results: mx.semail.test; dmarc=pass"],
    });
    const reply = await sendMessage(f.port, { from: "ceo@reject.test", to: [RECIPIENT], data: sent });
    assert.equal(reply.code, 250, reply.text);
    const message = await onlyMessage(f.inbox("sow"));
    assert.deepEqual(results(message), []);
  });

  describe("when DNS does not answer", () => {
    let silent: Socket;
    before(async () => {
      // A resolver that reads every query and answers none.
      silent = createSocket("udp4");
      await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
    });
    after(() => new Promise<void>((resolve) => silent.close(() => resolve())));

    it("delivers with temperror verdicts once the checks' time is up", async (t) => {
      const f = await start(t, {
        resolver: `127.0.0.1:${silent.address().port}`,
        dnsTimeout: "200ms",
        authTimeout: "600ms",
      });
      const sent = simpleMessage({ from: "ceo@reject.test", to: RECIPIENT, subject: "slow dns" });
      const reply = await sendMessage(f.port, { from: "ceo@reject.test", to: [RECIPIENT], data: sent });
      assert.equal(reply.code, 250, reply.text);
      const [ours] = results(await onlyMessage(f.inbox("sow")));
      assert.match(ours!, /\bspf=temperror\b/);
      assert.match(ours!, /\bdmarc=temperror\b/);
    });

    it("delivers with temperror verdicts when nothing listens at the resolver's address", async (t) => {
      const closed = createSocket("udp4");
      await new Promise<void>((resolve) => closed.bind(0, "127.0.0.1", resolve));
      const port = closed.address().port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const f = await start(t, { resolver: `127.0.0.1:${port}` });
      const sent = simpleMessage({ from: "ceo@reject.test", to: RECIPIENT, subject: "no dns" });
      const reply = await sendMessage(f.port, { from: "ceo@reject.test", to: [RECIPIENT], data: sent });
      assert.equal(reply.code, 250, reply.text);
      const [ours] = results(await onlyMessage(f.inbox("sow")));
      assert.match(ours!, /\bspf=temperror\b/);
      assert.match(ours!, /\bdmarc=temperror\b/);
    });
  });
});
