// Forwards through the real daemons: inbound forwards with the forward account, outbound
// relays with an SRS envelope sender, a bounce comes back through inbound to the original
// sender, and a destination that forwards back to us is a loop stopped at 550 5.4.6.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { until } from "../../../../testkit/until.ts";
import { SmtpClient, sendMessage, simpleMessage } from "../../../helpers/smtp.ts";
import { readMbox } from "../fixture.ts";
import { startForwardWorld } from "./forward-world.ts";

const USERS = `mailboxes:
  - {owner: keeper, address: keeper@semail.test, forward: {to: Keeper@elsewhere.example, keepCopy: true}}
  - {owner: mover, address: mover@semail.test, forward: {to: mover@elsewhere.example}}
  - {owner: looper, address: looper@semail.test, forward: {to: looper@loop.example, keepCopy: true}}
  - {owner: leaver, address: leaver@semail.test, forward: {to: gone@elsewhere.example}}
  - {owner: ada, address: ada@semail.test}
`;
const OWNERS = ["keeper", "mover", "looper", "leaver", "ada"];
const SENDER = "alice@origin.example";

const world = (t: Parameters<typeof startForwardWorld>[0]) =>
  startForwardWorld(t, {
    usersYaml: USERS,
    owners: OWNERS,
    routesBack: { "looper@loop.example": "looper@semail.test" },
    unknown: ["gone@elsewhere.example"],
  });

const send = (port: number, to: string, subject: string) =>
  sendMessage(port, { from: SENDER, to: [to], data: simpleMessage({ from: SENDER, to, subject }) });

test("a forward with keepCopy: a copy in INBOX, and one at the target with an SRS sender of ours that reverses", async (t) => {
  const w = await world(t);
  const reply = await send(w.inboundPort, "keeper@semail.test", "kept and forwarded");
  assert.equal(reply.code, 250, reply.text);
  const inbox = await readMbox(path.join(w.mailRoot, "keeper", "INBOX"));
  assert.deepEqual(
    inbox.map((m) => m.subject),
    ["kept and forwarded"],
  );
  await until(() => w.sink.messages.length === 1, "the forward at its target");
  const [forwarded] = w.sink.messages;
  assert.deepEqual(forwarded!.recipients, ["Keeper@elsewhere.example"]);
  // SPF at the target is checked against this domain, ours, not origin.example.
  assert.match(forwarded!.mailFrom, /^SRS0=[A-Z2-7]{8}=[A-Z2-7]{2}=origin\.example=alice@semail\.test$/);
  assert.equal(w.srs.reverse(forwarded!.mailFrom), SENDER);
  const raw = forwarded!.raw.toString();
  assert.match(raw, /^X-SEMail-Forwarded: keeper@semail\.test\r$/m);
  assert.match(raw, /^Subject: kept and forwarded\r$/m);
  // The author's From: is kept: outbound did not judge it as a user's submission.
  assert.match(raw, /^From: <alice@origin\.example>\r$/m);
});

test("a forward without keepCopy leaves nothing in the mailbox; another mailbox still stores", async (t) => {
  const w = await world(t);
  assert.equal((await send(w.inboundPort, "mover@semail.test", "moved on")).code, 250);
  assert.equal((await send(w.inboundPort, "ada@semail.test", "stays")).code, 250);
  await until(() => w.sink.messages.length === 1, "the forward at its target");
  assert.deepEqual(w.sink.messages[0]!.recipients, ["mover@elsewhere.example"]);
  assert.deepEqual(await readMbox(path.join(w.mailRoot, "mover", "INBOX")), []);
  assert.deepEqual(
    (await readMbox(path.join(w.mailRoot, "ada", "INBOX"))).map((m) => m.subject),
    ["stays"],
  );
});

test("a forward's bounce comes back to its SRS address and is sent on to the original sender", async (t) => {
  const w = await world(t);
  assert.equal((await send(w.inboundPort, "leaver@semail.test", "to a gone address")).code, 250);
  // The target refuses; outbound bounces to the SRS sender; that reaches inbound, which hands it back.
  await until(() => w.sink.messages.some((m) => m.recipients.includes(SENDER)), "the bounce at the original sender");
  const bounce = w.sink.messages.find((m) => m.recipients.includes(SENDER))!;
  assert.equal(bounce.mailFrom, "", "a bounce keeps the null sender");
  assert.match(bounce.raw.toString(), /gone@elsewhere\.example/);
  const returned = w.routed.find((r) => r.recipients.some((x) => x.startsWith("SRS0=")));
  assert.equal(returned?.reply.code, 250, "inbound took the bounce to our SRS address");
});

test("a forged or foreign SRS address is no address here, and the forward account relays nothing else", async (t) => {
  const w = await world(t);
  const forged = w.srs.forward("victim@origin.example").replace(/^SRS0=[A-Z2-7]{8}/, "SRS0=AAAAAAAA");
  const reply = await sendMessage(w.inboundPort, {
    from: "",
    to: [forged],
    data: simpleMessage({ from: "x@y.example", to: forged, subject: "x" }),
  });
  assert.equal(reply.code, 550);
  assert.match(reply.text, /^5\.1\.1 /);
  // Logged in as the forward account straight at outbound: no relay to an address no forward names.
  const client = await SmtpClient.connect(w.outboundPort);
  t.after(() => client.close());
  await client.command("EHLO test");
  const { forwardSecretOf } = await import("../../../../mailservers/core/forward-secret.ts");
  const { SECRET } = await import("./forward-world.ts");
  const login = Buffer.from(`\0semail:forward\0${forwardSecretOf(SECRET).password}`).toString("base64");
  assert.equal((await client.command(`AUTH PLAIN ${login}`)).code, 235);
  assert.equal((await client.command(`MAIL FROM:<${w.srs.forward(SENDER)}>`)).code, 250);
  const rcpt = await client.command("RCPT TO:<victim@elsewhere.example>");
  assert.equal(rcpt.code, 550);
  assert.equal((await client.command("RCPT TO:<mover@elsewhere.example>")).code, 250);
  await client.command("RSET");
  assert.equal((await client.command(`MAIL FROM:<${SENDER}>`)).code, 550, "a sender that is no SRS address of ours");
});

test("a forwarding mailbox takes its mail in a transaction of its own (452 4.5.3 for the rest)", async (t) => {
  const w = await world(t);
  const client = await SmtpClient.connect(w.inboundPort);
  t.after(() => client.close());
  await client.command("EHLO client.test");
  assert.equal((await client.command(`MAIL FROM:<${SENDER}>`)).code, 250);
  assert.equal((await client.command("RCPT TO:<keeper@semail.test>")).code, 250);
  const other = await client.command("RCPT TO:<ada@semail.test>");
  assert.equal(other.code, 452);
  assert.match(other.text, /^4\.5\.3 /);
  await client.command("RSET");
  assert.equal((await client.command(`MAIL FROM:<${SENDER}>`)).code, 250);
  assert.equal((await client.command("RCPT TO:<ada@semail.test>")).code, 250);
  assert.equal((await client.command("RCPT TO:<mover@semail.test>")).code, 452);
});

test("a destination that forwards back to us is a loop, stopped at 550 5.4.6 with one copy kept", async (t) => {
  const w = await world(t);
  assert.equal((await send(w.inboundPort, "looper@semail.test", "round and round")).code, 250);
  // looper@loop.example's server sends it back to looper@semail.test: refused there, once.
  await until(
    () => w.routed.some((r) => r.recipients.includes("looper@loop.example") && r.reply.code !== 250),
    "the message back at inbound",
  );
  const back = w.routed.find((r) => r.recipients.includes("looper@loop.example"))!;
  assert.equal(back.reply.code, 550);
  assert.match(back.reply.text, /^5\.4\.6 Routing loop detected/);
  // Its bounce reaches the original sender, and the mailbox has the first copy only.
  await until(() => w.sink.messages.some((m) => m.recipients.includes(SENDER)), "the bounce at the original sender");
  assert.deepEqual(
    (await readMbox(path.join(w.mailRoot, "looper", "INBOX"))).map((m) => m.subject),
    ["round and round"],
  );
  assert.equal(w.routed.filter((r) => r.recipients.includes("looper@loop.example")).length, 1);
});
