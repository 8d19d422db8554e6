// kill -9 of a real `semail outbound` mid-delivery: after the restart the spool is scanned,
// the recipient already accepted is not sent again and the other one is delivered.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { freeLoopbackPort } from "../../../provisioning/local/ports.ts";
import { Spool } from "../../../mailservers/outbound/relay/spool.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { startTestSlapd, TEST_USERS, type TestSlapd } from "../../helpers/slapd.ts";
import { APEX, startWorld, type World } from "./relay/fixture.ts";
import { startChild, writeChildConfig } from "./child-daemon.ts";
import { plain, tempDir } from "./daemon-fixture.ts";
import { until } from "../../helpers/until.ts";

const FLAKY = "127.0.0.20";
let world: World;
let slapd: TestSlapd;
before(async () => {
  world = await startWorld([`flaky IN A ${FLAKY}`, "flaky-d IN MX 10 flaky"]);
  slapd = await startTestSlapd();
});
after(async () => {
  await world?.close();
  await slapd?.stop();
});

/** A server that leaves RCPT unanswered while `hang` is set (a delivery in flight), else accepts. */
async function startFlaky(port: number) {
  const state = { hang: true, rcpts: 0, messages: [] as string[] };
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["AUTH", "STARTTLS"],
    onRcptTo(_address, _session, callback) {
      state.rcpts++;
      if (!state.hang) callback();
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        state.messages.push(Buffer.concat(chunks).toString("latin1"));
        callback(null, "2.0.0 Ok");
      });
    },
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(port, FLAKY, resolve));
  return { state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}


it("no double delivery and nothing lost across a kill -9 restart", async (t) => {
  const flaky = await startFlaky(world.port);
  t.after(() => flaky.close());
  const dir = await tempDir(t);
  const port = await freeLoopbackPort();
  const config = await writeChildConfig(dir, slapd, world, port, { retry: { delays: ["1h"], maxAge: "5d", delayNotice: 0 } }, { greetingTimeout: "30s", commandTimeout: "60s" });
  const spool = new Spool(join(dir, "spool"));

  const first = await startChild(config, port);
  t.after(() => first.child.kill("SIGKILL"));
  const client = await SmtpClient.connect(port);
  await client.command("EHLO client.test");
  assert.equal((await client.command(`AUTH PLAIN ${plain("alice", TEST_USERS[0]!.password)}`)).code, 235);
  assert.equal((await client.command(`MAIL FROM:<alice@plain.${APEX}>`)).code, 250);
  assert.equal((await client.command(`RCPT TO:<one@plain.${APEX}>`)).code, 250);
  assert.equal((await client.command(`RCPT TO:<two@flaky-d.${APEX}>`)).code, 250);
  const reply = await client.data("Subject: survivor\r\n\r\nstill here\r\n");
  client.close();
  assert.equal(reply.code, 250, reply.text);
  const id = /queued as ([0-9A-Z]+)/.exec(reply.text)![1]!;

  const copies = () => world.targets.a.messages.filter((m) => m.raw.includes("Subject: survivor")).length;
  await until(() => copies() === 1, () => `delivery to plain; daemon output:\n${first.output()}`, 15_000);
  await until(async () => (await spool.journal(id)).some((e) => e.kind === "reply" && e.recipient === `one@plain.${APEX}` && e.status === "delivered"), () => `the journal entry for one@; daemon output:\n${first.output()}`, 15_000);
  await until(() => flaky.state.rcpts >= 1, () => `the delivery to flaky in flight; daemon output:\n${first.output()}`, 15_000);

  first.child.kill("SIGKILL");
  assert.equal(await first.exited, "SIGKILL");
  assert.deepEqual(await spool.ids(), [id], "the message is still spooled");

  flaky.state.hang = false;
  const second = await startChild(config, port);
  t.after(async () => {
    second.child.kill("SIGTERM");
    await second.exited;
  });
  await until(() => flaky.state.messages.length === 1, () => `delivery to flaky after the restart; daemon output:\n${second.output()}`, 15_000);
  await until(async () => (await spool.ids()).length === 0, () => `an empty spool; daemon output:\n${second.output()}`, 15_000);
  assert.equal(copies(), 1, "one@ got exactly one copy");
  assert.equal(flaky.state.messages.length, 1);
  assert.match(flaky.state.messages[0]!, /Subject: survivor/);
});
