// SMTP smuggling: a message carrying "<LF>.<LF>"-style sequences must reach even a sloppy
// next hop as exactly one message.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { createMxResolver } from "../../../../../mailservers/outbound/relay/delivery/mx.ts";
import { createSender, type Sender } from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { APEX, IP, source, startWorld, type World } from "./fixture.ts";

let world: World;
let sender: Sender;

before(async () => {
  world = await startWorld();
  sender = createSender({
    resolver: createMxResolver({ server: world.named.server }),
    ehloName: `relay.${APEX}`,
    port: world.port,
    localAddresses: [IP.self],
  });
});
after(async () => {
  await sender?.close();
  await world?.close();
});

const SEQUENCES = {
  "LF.LF": "\n.\n",
  "CR.CR": "\r.\r",
  "LF.CRLF": "\n.\r\n",
  "CRLF.LF": "\r\n.\n",
  "CR.CRLF": "\r.\r\n",
  "CRLF.CR": "\r\n.\r",
};

/** A message that, cut at `end`, carries a second, forged message to victim@. */
function smuggling(end: string): Buffer {
  const forged = `MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@smuggle.${APEX}>\r\nDATA\r\nFrom: ceo@bank.test\r\nSubject: forged\r\n\r\nwire the money\r\n`;
  return Buffer.from(
    `From: alice@sender.${APEX}\r\nSubject: innocent\r\n\r\nhello\rbare CR\r\nbefore${end}${forged}${end}after\r\n`,
    "latin1",
  );
}

test("the sloppy target really splits a raw smuggling message in two (the control)", async () => {
  const before = world.targets.lenient.messages.length;
  const socket = connect(world.port, IP.lenient);
  const replies: string[] = [];
  socket.on("data", (d) => replies.push(d.toString()));
  await new Promise((r) => socket.once("connect", r));
  socket.write(`EHLO raw.test\r\nMAIL FROM:<alice@sender.${APEX}>\r\nRCPT TO:<control@smuggle.${APEX}>\r\nDATA\r\n`);
  socket.write(smuggling(SEQUENCES["LF.LF"]));
  socket.write(".\r\nQUIT\r\n");
  await new Promise((r) => socket.once("close", r));
  assert.equal(world.targets.lenient.messages.length - before, 2, replies.join(""));
});

for (const [label, end] of Object.entries(SEQUENCES)) {
  test(`${label} inside a message arrives as one message`, async () => {
    const before = world.targets.lenient.messages.length;
    const recipient = `${label.toLowerCase().replace(/\./g, "-")}@smuggle.${APEX}`;
    const [result] = await sender.deliver({
      domain: `smuggle.${APEX}`,
      mailFrom: `alice@sender.${APEX}`,
      recipients: [recipient],
      envelopeId: label,
      message: source(smuggling(end)),
    });
    assert.equal(result?.status, "delivered", String(result?.response));
    const got = world.targets.lenient.messages.slice(before);
    assert.equal(got.length, 1, `expected one message, got ${got.length}`);
    assert.deepEqual(got[0]?.recipients, [recipient]);
    const text = got[0]!.raw.toString("latin1");
    assert.match(text, /wire the money/);
    assert.match(text, /after\r\n$/);
    assert.doesNotMatch(text, /\r(?!\n)|(?<!\r)\n/, "only CRLF line ends on the wire");
  });
}
