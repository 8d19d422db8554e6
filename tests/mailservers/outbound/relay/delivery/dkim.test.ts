// DKIM signatures on delivered mail, checked against the public key published in named.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { after, before, test } from "node:test";
import { createDkimSigner } from "../../../../../mailservers/outbound/relay/delivery/dkim.ts";
import { createMxResolver } from "../../../../../mailservers/outbound/relay/delivery/mx.ts";
import { createSender, type Sender } from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { publicKeyFromRecord, verifyDkim } from "./dkim-verify.ts";
import { APEX, IP, message, source, startWorld, type World } from "./fixture.ts";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicDer = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");
// TXT strings hold at most 255 bytes: split the key record.
const record = `v=DKIM1; k=rsa; p=${publicDer}`;
const chunks = record
  .match(/.{1,200}/g)!
  .map((c) => `"${c}"`)
  .join(" ");

let world: World;
let sender: Sender;

before(async () => {
  world = await startWorld([`s1._domainkey.sender IN TXT ${chunks}`]);
  sender = createSender({
    resolver: createMxResolver({ server: world.named.server }),
    ehloName: `relay.${APEX}`,
    port: world.port,
    localAddresses: [IP.self],
    dkim: [{ domain: `sender.${APEX}`, selector: "s1", privateKey }],
  });
});
after(async () => {
  await sender?.close();
  await world?.close();
});

async function publishedKey() {
  const resolver = new Resolver();
  resolver.setServers([world.named.server]);
  const txt = await resolver.resolveTxt(`s1._domainkey.sender.${APEX}`);
  return publicKeyFromRecord(txt[0]!.join(""));
}

async function sendFrom(mailFrom: string, local: string, body: Buffer) {
  const [result] = await sender.deliver({
    domain: `plain.${APEX}`,
    mailFrom,
    recipients: [`${local}@plain.${APEX}`],
    envelopeId: local,
    message: source(body),
  });
  assert.equal(result?.status, "delivered", String(result?.response));
  const got = world.targets.a.messages.find((m) => m.recipients.includes(`${local}@plain.${APEX}`));
  assert.ok(got);
  return got.raw;
}

test("mail from a domain with a key is signed, and the signature verifies with the published key", async () => {
  const raw = await sendFrom(`alice@sender.${APEX}`, "d1", message("signed", "Body  with   spaces \r\n\r\n\r\n"));
  const check = verifyDkim(raw, await publishedKey());
  assert.equal(check.ok, true, String(check.reason));
  assert.equal(check.tags.d, `sender.${APEX}`);
  assert.equal(check.tags.s, "s1");
  assert.match(check.tags.h ?? "", /from/i);
});

test("a changed body or header no longer verifies", async () => {
  const raw = await sendFrom(`alice@sender.${APEX}`, "d2", message("tamper"));
  const key = await publishedKey();
  assert.equal(verifyDkim(raw, key).ok, true);
  const body = Buffer.from(raw.toString("latin1").replace("Hello.", "Hellp."), "latin1");
  assert.equal(verifyDkim(body, key).reason, "body hash mismatch");
  const header = Buffer.from(raw.toString("latin1").replace("Subject: tamper", "Subject: tamped"), "latin1");
  assert.equal(verifyDkim(header, key).reason, "signature does not verify");
});

test("bare line ends are normalised before signing, so the sent bytes verify", async () => {
  const raw = await sendFrom(
    `alice@sender.${APEX}`,
    "d3",
    Buffer.from(`From: alice@sender.${APEX}\nSubject: bare\r\n\nline one\rline two\n`),
  );
  assert.equal(verifyDkim(raw, await publishedKey()).ok, true);
  assert.doesNotMatch(raw.toString("latin1"), /\r(?!\n)|(?<!\r)\n/);
});

test("a subdomain is signed with its parent's key; another domain is not signed", async () => {
  const sub = await sendFrom(`bob@team.sender.${APEX}`, "d4", message("sub"));
  assert.equal(verifyDkim(sub, await publishedKey()).tags.d, `sender.${APEX}`);
  const other = await sendFrom(`carol@elsewhere.${APEX}`, "d5", message("other"));
  assert.doesNotMatch(other.toString("latin1"), /^DKIM-Signature:/im);
});

test("a key that is not an RSA private key stops creation with the key's index", () => {
  assert.throws(
    () => createDkimSigner([{ domain: "example.test", selector: "s1", privateKey: "not a key" }]),
    /dkim\[0\].*unusable private key/,
  );
  assert.throws(() => createDkimSigner([{ domain: "example.test", selector: "bad selector", privateKey }]), /selector/);
});
