// A large message submitted to the outbound daemon, spooled, DKIM-signed and sent with the
// buffer-at-a-time DATA encoder: the destination's bytes are the submitted ones after our
// headers, and mailauth (code that shares nothing with our signer) verifies the signature
// on exactly those bytes, with the key published in named.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { dkimVerify } from "mailauth";
import type { Directory } from "../../../config/directory.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";
import { daemonSettings, plain, startDaemon } from "./daemon-fixture.ts";
import { APEX, startWorld, type World } from "./relay/delivery/fixture.ts";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicKey = keys.publicKey.export({ type: "spki", format: "der" }).toString("base64");
// A TXT string holds at most 255 bytes: the record goes in pieces.
const keyRecord = `"${`v=DKIM1; k=rsa; p=${publicKey}`.match(/.{1,200}/g)!.join('" "')}"`;

const directory: Directory = {
  authenticate: async (uid, password) =>
    uid === "alice" && password === "pw" ? { ok: true, user: { uid, dn: `uid=${uid}` } } : { ok: false },
  isAdmin: async () => false,
  close: async () => {},
};

let world: World;
before(async () => {
  world = await startWorld([`s1._domainkey.plain IN TXT ${keyRecord}`]);
});
after(() => world?.close());

/**
 * About 200 KiB of CRLF lines: lines of only ".", lines that start with "." placed on both
 * sides of the spool's 64 KiB read boundaries, long and short lines, 8-bit bytes.
 */
function largeBody(): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 200 * 1024; i++) {
    const line =
      i % 97 === 0 ? "." : i % 31 === 0 ? `.leading dot ${i}` : `line ${i} L\u00e9a ${"x".repeat((i * 37) % 200)}`;
    lines.push(line);
    size += line.length + 2;
  }
  // Dots right at and around 64 KiB and 128 KiB of the body.
  for (const at of [65536, 131072]) {
    let offset = 0;
    for (let i = 0; i < lines.length; i++) {
      if (offset >= at - 2) {
        lines[i] = ".";
        lines[i + 1] = `.${lines[i + 1]}`;
        break;
      }
      offset += lines[i]!.length + 2;
    }
  }
  return `${lines.join("\r\n")}\r\n`;
}

test("a relayed 200 KiB message verifies with mailauth on the bytes the destination got", async (t) => {
  const dir = await tempDir(t, "semail-dkim-relayed-");
  const keyFile = join(dir, "s1.pem");
  await writeFile(keyFile, privateKey);
  const settings = await daemonSettings(dir, {
    users: `mailboxes:\n  - {owner: alice, address: alice@plain.${APEX}}\n`,
    outbound: {
      delivery: {
        resolver: world.named.server,
        smtpPort: world.port,
        localAddresses: ["127.0.0.11"],
        connectTimeout: "2s",
        dkim: [{ domain: `plain.${APEX}`, selector: "s1", privateKeyFile: keyFile }],
      },
    },
  });
  const daemon = await startDaemon(t, settings, { directory });

  const headers = `From: <alice@plain.${APEX}>\r\nTo: <bob@plain.${APEX}>\r\nSubject: dkim-large\r\nMessage-ID: <dkim-large@test>\r\n\r\n`;
  const message = headers + largeBody();
  const client = await SmtpClient.connect(daemon.port);
  try {
    await client.command("EHLO client.test");
    assert.equal((await client.command(`AUTH PLAIN ${plain("alice", "pw")}`)).code, 235);
    assert.equal((await client.command(`MAIL FROM:<alice@plain.${APEX}>`)).code, 250);
    assert.equal((await client.command(`RCPT TO:<bob@plain.${APEX}>`)).code, 250);
    const reply = await client.data(Buffer.from(message.replace(/^\./gm, ".."), "latin1"));
    assert.equal(reply.code, 250, reply.text);
  } finally {
    client.close();
  }

  const find = () => world.targets.a.messages.find((m) => m.raw.includes("Subject: dkim-large\r\n"));
  await until(() => find() !== undefined, "the message at the destination", 20_000);
  const raw = find()!.raw;
  // What arrived is what was submitted, after the headers we add (DKIM-Signature, Received).
  assert.equal(raw.subarray(raw.length - Buffer.byteLength(message, "latin1")).toString("latin1"), message);
  assert.match(raw.toString("latin1"), /^DKIM-Signature: /);

  const dns = new Resolver();
  dns.setServers([world.named.server]);
  const verified = await dkimVerify(raw, {
    resolver: (name: string, rrtype: string) => dns.resolve(name, rrtype as "TXT"),
  });
  const results = verified.results.map((r) => ({ result: r.status.result, domain: r.signingDomain, info: r.info }));
  assert.deepEqual(
    results.map(({ result, domain }) => ({ result, domain })),
    [{ result: "pass", domain: `plain.${APEX}` }],
    JSON.stringify(results),
  );

  // And the control: one byte of the body changed, mailauth says so.
  const tampered = Buffer.from(raw.toString("latin1").replace("line 5 ", "line 6 "), "latin1");
  const check = await dkimVerify(tampered, {
    resolver: (name: string, rrtype: string) => dns.resolve(name, rrtype as "TXT"),
  });
  assert.equal(check.results[0]?.status.result, "neutral", JSON.stringify(check.results[0]?.status));
});
