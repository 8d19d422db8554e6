// A slowloris in DATA: each message line finished in time (so the command timeout, which
// watches one unfinished line, never fires) but the message itself never ending. The front
// end must still cut it: a message gets limits.commandTimeoutMs plus 2 ms per byte received
// (500 B/s, Postfix's smtpd_min_data_rate), so a byte a second ends after about the timeout.
import assert from "node:assert/strict";
import type { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { parseListenSpec } from "../../../lib/listen-spec.ts";
import { createSmtpFrontEnd, listenSmtp } from "../../../mailservers/core/index.ts";
import type { DeliveryBackend } from "../../../mailservers/core/types.ts";
import { SmtpClient } from "../../helpers/smtp.ts";

const COMMAND_TIMEOUT_MS = 600;

/** A backend that reads every message whole and counts the ones it kept. */
async function start(t: TestContext): Promise<{ port: number; kept: () => number }> {
  let kept = 0;
  const backend: DeliveryBackend = {
    async checkSender() {},
    async checkRecipient() {},
    async deliver(_envelope, message: Readable) {
      for await (const _chunk of message);
      kept++;
      return "Ok";
    },
  };
  const frontEnd = createSmtpFrontEnd({
    backend,
    logger: silentLogger(),
    hostname: "mx.test",
    maxMessageSize: 1024 * 1024,
    limits: { commandTimeoutMs: COMMAND_TIMEOUT_MS, idleTimeoutMs: 60_000, greetDelayMs: 0, closeTimeoutMs: 200 },
  });
  const listening = await listenSmtp(frontEnd, [parseListenSpec("127.0.0.1:0")]);
  t.after(() => listening.close());
  return { port: listening.addresses[0]!.boundPort, kept: () => kept };
}

async function openData(port: number, t: TestContext): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port, { timeoutMs: 10_000 });
  t.after(() => c.close());
  await c.command("EHLO slow.test");
  await c.command("MAIL FROM:<a@far.test>");
  await c.command("RCPT TO:<b@ok.test>");
  assert.equal((await c.command("DATA")).code, 354);
  return c;
}

test("a message whose lines each end in time but which never ends is cut with 421 4.4.2, and nothing is kept", async (t) => {
  const { port, kept } = await start(t);
  const c = await openData(port, t);
  // Three bytes every 100 ms: 30 B/s, each line ended well within the command timeout.
  const drip = setInterval(() => c.write("x\r\n"), 100);
  t.after(() => clearInterval(drip));
  // Bounded by the client's 10 s read: without a deadline on DATA the drip would go on forever.
  const reply = await c.read();
  clearInterval(drip);
  assert.deepEqual([reply.code, reply.text.slice(0, 5)], [421, "4.4.2"]);
  await c.waitClosed();
  assert.equal(kept(), 0);
});

test("a message sent at a normal rate in slow pieces, taking longer than the command timeout, is accepted", async (t) => {
  const { port, kept } = await start(t);
  const c = await openData(port, t);
  // 8 KiB every 100 ms (80 KiB/s) for 1.5 s: the deadline grows 16 s per piece, far ahead of the clock.
  const line = `${"y".repeat(1022)}\r\n`;
  for (let i = 0; i < 15; i++) {
    c.write(line.repeat(8));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  c.write(".\r\n");
  assert.equal((await c.read()).code, 250);
  assert.equal(kept(), 1);
  // The deadline ends with the message: the session is still usable after the timeout.
  await new Promise((resolve) => setTimeout(resolve, COMMAND_TIMEOUT_MS * 2));
  assert.equal((await c.command("NOOP")).code, 250);
});
