// The spam check without a daemon: what Rspamd is told, the bound on its wait, and the
// message stream's own errors passed on (a limit broken mid-message keeps nothing).
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { test } from "node:test";
import { silentLogger } from "../../../../lib/logger.ts";
import { permFail, type Envelope } from "../../../../mailservers/core/types.ts";
import type { RspamdRequest, RspamdResult } from "../../../../mailservers/inbound/spam/rspamd-client.ts";
import { createSpamCheck, type AskRspamd } from "../../../../mailservers/inbound/spam/spam-check.ts";

const SETTINGS = { url: "http://127.0.0.1:1", timeout: 5000, maxSize: 1024, greylist: false };

const envelope: Envelope = {
  id: "m1",
  session: {
    id: "s1",
    remoteAddress: "::ffff:192.0.2.7",
    remotePort: 1025,
    localAddress: "127.0.0.1",
    localPort: 25,
    clientHostname: "mail.example.org",
    secure: false,
  },
  mailFrom: "a@example.org",
  recipients: ["b@semail.test", "c@semail.test"],
  protocol: "ESMTP",
  receivedAt: new Date(0),
};

const answer: RspamdResult = { score: 2, requiredScore: 15, action: "no action", symbols: [] };

test("Rspamd is told the envelope and the client's name, and given what is left of the timeout", async () => {
  let asked: { message: string; request: RspamdRequest; timeoutMs: number } | undefined;
  const ask: AskRspamd = async (_url, message, request, timeoutMs) => {
    asked = { message: Buffer.concat(message).toString(), request, timeoutMs };
    return answer;
  };
  const check = createSpamCheck(SETTINGS, { logger: silentLogger(), ask, clientName: async () => "mail.example.org" });
  const checked = await check.check(envelope, Readable.from([Buffer.from("Subject: x\r\n\r\nhi\r\n")]));
  assert.deepEqual(asked?.request, {
    ip: "192.0.2.7",
    helo: "mail.example.org",
    hostname: "mail.example.org",
    from: "a@example.org",
    recipients: ["b@semail.test", "c@semail.test"],
    queueId: "m1",
  });
  assert.equal(asked?.message, "Subject: x\r\n\r\nhi\r\n");
  assert.ok(asked!.timeoutMs > 0 && asked!.timeoutMs <= 5000);
  assert.equal(checked.verdict, "inbox");
  assert.match(
    await text(checked.message),
    /^X-Spamd-Result: default: False \[2\.00 \/ 15\.00\]\r\nX-Spam-Score: 2\.00\r\n/,
  );
});

test("a stream error while the message is read is the check's error", async () => {
  const ask: AskRspamd = async () => assert.fail("not asked");
  const check = createSpamCheck(SETTINGS, { logger: silentLogger(), ask });
  const message = new PassThrough();
  message.write("Subject: x\r\n\r\n");
  const limit = permFail(552, "5.3.4", "Message too big");
  setImmediate(() => message.destroy(limit));
  await assert.rejects(check.check(envelope, message), (err) => err === limit);
});

test("past maxSize: the rest passes through, and a stream error after it reaches the store's stream", async () => {
  const ask: AskRspamd = async () => assert.fail("not asked");
  const check = createSpamCheck(SETTINGS, { logger: silentLogger(), ask });
  const message = new PassThrough();
  message.write(Buffer.alloc(2048, "a"));
  const checked = await check.check(envelope, message);
  assert.equal(checked.verdict, "unscanned");
  const limit = permFail(552, "5.3.4", "Message too big");
  setImmediate(() => message.destroy(limit));
  await assert.rejects(text(checked.message), (err) => err === limit);
});
