// The reply to the final "." gets longer than other replies (RFC 5321 4.5.3.2.6: 10 minutes
// where MAIL and RCPT get 5): a server that takes 1.5 times the command timeout to accept the
// message has it delivered, not deferred and sent again later (RFC 1047's duplicate). The
// session then goes back to the command timeout.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { createSender, type DeliveryOptions } from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { startTarget } from "../../../../helpers/target-smtp.ts";
import { message, source } from "./fixture.ts";

const neverAsked = { resolve: () => Promise.reject(new Error("the relay host needs no MX lookup")) };
const COMMAND_TIMEOUT_MS = 2000;

async function sendTo(t: TestContext, delayMs: number, overrides: Partial<DeliveryOptions> = {}) {
  const target = await startTarget({ host: "127.0.0.1", behaviour: { kind: "slow-data-reply", delayMs } });
  t.after(() => target.close());
  const sender = createSender({
    resolver: neverAsked,
    ehloName: "relay.slow.test",
    relayHost: { host: target.host, port: target.port },
    connectTimeoutMs: 2000,
    greetingTimeoutMs: COMMAND_TIMEOUT_MS,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    connectionIdleMs: 0,
    ...overrides,
  });
  t.after(() => sender.close());
  const [result] = await sender.deliver({
    domain: "slow.test",
    mailFrom: "alice@sender.test",
    recipients: ["bob@slow.test"],
    envelopeId: "slow",
    message: source(message("slow final reply")),
  });
  return result;
}

test("a 250 that comes 1.5 command timeouts after the final dot is a delivery", async (t) => {
  const result = await sendTo(t, COMMAND_TIMEOUT_MS * 1.5);
  assert.equal(result?.status, "delivered", String(result?.response));
});

test("the final reply's own limit still holds: past it, the message is deferred", async (t) => {
  const result = await sendTo(t, COMMAND_TIMEOUT_MS * 1.5, { dataDoneTimeoutMs: COMMAND_TIMEOUT_MS / 2 });
  assert.equal(result?.status, "deferred");
  assert.match(result?.response ?? "", /timeout/i);
});
