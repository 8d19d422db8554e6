// Two SEMail hosts with the arrival checks on, asking the test's own named (zone "test": SPF,
// DKIM keys and DMARC policies of the senders), messages signed by outbound's DKIM signer.
// The sender connects to a from 127.0.0.2 (the SPF records name it); a hands on from 127.0.0.1,
// which b knows as a's address (hosts.a.ip, and a knows b's) unless a test says otherwise. Both check loopback
// (uncheckedNetworks []), so only b's knowing a leaves a's hand-on unchecked there.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { after, before, describe, it, type TestContext } from "node:test";
import { txtData } from "../../../config/stack/zone-file.ts";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { createDkimSigner } from "../../../mailservers/outbound/relay/delivery/dkim.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { sendMessage, simpleMessage } from "../../helpers/smtp.ts";
import { readMbox } from "./fixture.ts";
import { entry, startHostPair, usersList, type HostName, type HostPair } from "./hosts-fixture.ts";

/** The sender's address, which the senders' SPF records allow or do not. */
const SENDER_IP = "127.0.0.2";
/** Where each host's hand-on comes from: its address as the other knows it. */
const HOST_IP = "127.0.0.1";
const TO = "ada@semail.test";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicKey = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");
const signer = createDkimSigner([{ domain: "good.test", selector: "sel", privateKey }]);

const RECORDS = [
  // good.test: the sender's address may send for it, it signs, and rejects the rest.
  `good IN TXT ${txtData(`v=spf1 ip4:${SENDER_IP} -all`)}`,
  `sel._domainkey.good IN TXT ${txtData(`v=DKIM1; k=rsa; p=${publicKey}`)}`,
  `_dmarc.good IN TXT ${txtData("v=DMARC1; p=reject")}`,
  // spfonly.test: passes DMARC by SPF alone (no signature), only where the sender connected.
  `spfonly IN TXT ${txtData(`v=spf1 ip4:${SENDER_IP} -all`)}`,
  `_dmarc.spfonly IN TXT ${txtData("v=DMARC1; p=reject")}`,
  // reject.test and quarantine.test send only from 192.0.2.1.
  `reject IN TXT ${txtData("v=spf1 ip4:192.0.2.1 -all")}`,
  `_dmarc.reject IN TXT ${txtData("v=DMARC1; p=reject")}`,
  `quarantine IN TXT ${txtData("v=spf1 ip4:192.0.2.1 -all")}`,
  `_dmarc.quarantine IN TXT ${txtData("v=DMARC1; p=quarantine")}`,
];

let named: RunningNamed;
before(async () => {
  named = await startTestNamed([{ name: "test", text: zoneText("test", RECORDS) }]);
});
after(() => named?.stop());

/** Ada on b; `known`: each host knows the other's address (hosts.<name>.ip), so a hand-on is a peer's. */
function start(t: TestContext, options: { known?: boolean; users?: Record<HostName, string> } = {}): Promise<HostPair> {
  return startHostPair(t, {
    users: options.users ?? usersList(entry("ada", TO, { host: "b" })),
    owners: ["ada"],
    inbound: { resolver: named.server, uncheckedNetworks: [] },
    ips: options.known === false ? {} : { a: HOST_IP, b: HOST_IP },
  });
}

/** Sends `data` from `from` to ada through `port`, from SENDER_IP. */
function send(port: number, from: string, data: string | Buffer) {
  return sendMessage(port, { from, to: [TO], data, localAddress: SENDER_IP });
}

async function signed(message: string): Promise<Buffer> {
  return buffer(signer.sign(Readable.from([Buffer.from(message)]), "good.test"));
}

async function text(file: string): Promise<string> {
  return readFile(file, "latin1").catch(() => "");
}

/** The Authentication-Results fields of the one message in `file`, unfolded. */
async function resultsOfOnly(file: string): Promise<string[]> {
  const messages = await readMbox(file);
  assert.equal(messages.length, 1, `${file}: ${messages.length} messages`);
  return messages[0]!.headers
    .filter(([k]) => k.toLowerCase() === "authentication-results")
    .map(([, v]) => v.replace(/\s+/g, " "));
}

describe("hand-on between hosts with the arrival checks on", () => {
  it("refuses a p=reject failure 550 5.7.1 at the first host, and b gets nothing", async (t) => {
    const pair = await start(t);
    const data = simpleMessage({ from: "ceo@reject.test", to: TO, subject: "wire the money" });
    const reply = await send(pair.a.port, "ceo@reject.test", data);
    assert.equal(reply.code, 550, reply.text);
    assert.match(reply.text, /^5\.7\.1 Message refused: reject\.test publishes DMARC p=reject/);
    for (const host of [pair.a, pair.b]) {
      assert.equal(await text(host.inbox("ada")), "", `${host.name}'s inbox`);
      assert.equal(await text(host.junk("ada")), "", `${host.name}'s Junk`);
    }
  });

  it("hands a passing message on with a's Authentication-Results, and b adds none of its own", async (t) => {
    const pair = await start(t);
    const data = await signed(simpleMessage({ from: "alice@good.test", to: TO, subject: "signed" }));
    const reply = await send(pair.a.port, "alice@good.test", data);
    assert.equal(reply.code, 250, reply.text);
    const [ours, ...others] = await resultsOfOnly(pair.b.inbox("ada"));
    assert.deepEqual(others, [], "only a's Authentication-Results");
    assert.match(ours!, /^mx-a\.semail\.test; /);
    assert.match(ours!, /\bspf=pass\b[^;]*smtp\.mailfrom=alice@good\.test/);
    assert.match(ours!, /\bdkim=pass\b[^;]*header\.i=@good\.test/);
    assert.match(ours!, /\bdmarc=pass\b/);
    const stored = await text(pair.b.inbox("ada"));
    assert.match(stored, /^X-SEMail-Handed-On: a\nAuthentication-Results: mx-a\.semail\.test;/m);
    assert.equal(await text(pair.b.junk("ada")), "");
    assert.equal(await text(pair.a.inbox("ada")), "");
  });

  it("needs b to know a: SPF-only mail of a p=reject domain is stored when b does, refused 550 at b when not", async (t) => {
    const data = simpleMessage({ from: "bob@spfonly.test", to: TO, subject: "by SPF alone" });
    const knowing = await start(t);
    const stored = await send(knowing.a.port, "bob@spfonly.test", data);
    assert.equal(stored.code, 250, stored.text);
    const [ours, ...others] = await resultsOfOnly(knowing.b.inbox("ada"));
    assert.deepEqual(others, []);
    assert.match(ours!, /^mx-a\.semail\.test; .*\bspf=pass\b.*\bdmarc=pass\b/);

    // b does not know a: it checks SPF against a's address, which spfonly.test does not name.
    const stranger = await start(t, { known: false });
    const refused = await send(stranger.a.port, "bob@spfonly.test", data);
    assert.equal(refused.code, 550, refused.text);
    assert.match(refused.text, /^5\.7\.1 Message refused: spfonly\.test publishes DMARC p=reject/);
    assert.equal(await text(stranger.b.inbox("ada")), "");
    assert.equal(await text(stranger.b.junk("ada")), "");
  });

  it("carries a's p=quarantine verdict: b stores the message in ada's Junk folder", async (t) => {
    const pair = await start(t);
    const data = simpleMessage({ from: "eve@quarantine.test", to: TO, subject: "doubtful" });
    const reply = await send(pair.a.port, "eve@quarantine.test", data);
    assert.equal(reply.code, 250, reply.text);
    assert.equal(await text(pair.b.inbox("ada")), "", "not in the inbox");
    const [ours] = await resultsOfOnly(pair.b.junk("ada"));
    assert.match(ours!, /^mx-a\.semail\.test; .*\bdmarc=fail\b/);
    assert.match(await text(pair.b.junk("ada")), /^X-SEMail-Handed-On: a; junk=yes\n/m);
    assert.equal(await text(pair.a.junk("ada")), "");
  });

  it("acts on no marker from anyone but a peer: not into Junk, not a loop", async (t) => {
    const pair = await start(t);
    // The marker first, as a peer writes it (above the signature, which does not cover it).
    const marked = async (marker: string, subject: string) =>
      Buffer.concat([
        Buffer.from(`X-SEMail-Handed-On: ${marker}\r\n`),
        await signed(simpleMessage({ from: "alice@good.test", to: TO, subject })),
      ]);
    // Straight to b from the sender: checked there (b's own results), and stored in the inbox.
    const direct = await send(pair.b.port, "alice@good.test", await marked("a; junk=yes", "not junk"));
    assert.equal(direct.code, 250, direct.text);
    const [ours] = await resultsOfOnly(pair.b.inbox("ada"));
    assert.match(ours!, /^mx-b\.semail\.test; .*\bdmarc=pass\b/);
    assert.equal(await text(pair.b.junk("ada")), "");
    // To a, naming b as if b had handed it over: a hands it on all the same.
    const viaA = await send(pair.a.port, "alice@good.test", await marked("b", "not a loop"));
    assert.equal(viaA.code, 250, viaA.text);
    assert.equal((await readMbox(pair.b.inbox("ada"))).length, 2);
    assert.match(await text(pair.b.inbox("ada")), /^Subject: not a loop$/m);
    assert.equal(await text(pair.b.junk("ada")), "");
  });

  it("trusts no Junk verdict from a host it cannot tell by its address (no hosts.a.ip)", async (t) => {
    const pair = await start(t, { known: false });
    const data = Buffer.concat([
      Buffer.from("X-SEMail-Handed-On: a; junk=yes\r\n"),
      await signed(simpleMessage({ from: "alice@good.test", to: TO, subject: "not junk either" })),
    ]);
    const reply = await send(pair.b.port, "alice@good.test", data);
    assert.equal(reply.code, 250, reply.text);
    assert.match((await resultsOfOnly(pair.b.inbox("ada")))[0]!, /^mx-b\.semail\.test; .*\bdmarc=pass\b/);
    assert.equal(await text(pair.b.junk("ada")), "");
  });

  it("still stops a peer's message that would go round: lists that disagree answer 451 4.4.6", async (t) => {
    const pair = await start(t, {
      users: { a: usersList(entry("ada", TO, { host: "b" })), b: usersList(entry("ada", TO, { host: "a" })) },
    });
    const data = await signed(simpleMessage({ from: "alice@good.test", to: TO, subject: "round and round" }));
    const reply = await send(pair.a.port, "alice@good.test", data);
    assert.equal(reply.code, 451, reply.text);
    assert.match(reply.text, /^4\.4\.6 Routing loop/);
    assert.equal(await text(pair.a.inbox("ada")), "");
    assert.equal(await text(pair.b.inbox("ada")), "");
  });
});
