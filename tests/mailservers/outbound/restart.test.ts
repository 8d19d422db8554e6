// kill -9 of a real `semail outbound` mid-delivery: after the restart the spool is scanned,
// the recipient already accepted is not sent again and the other one is delivered. And
// mid-burst: every message that got its 250 is delivered, once.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { Spool } from "../../../mailservers/outbound/relay/index.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { APEX, startWorld, type World } from "./relay/delivery/fixture.ts";
import { startChild, writeChildConfig } from "./child-daemon.ts";
import { plain } from "./daemon-fixture.ts";
import { until } from "../../../testkit/until.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const FLAKY = "127.0.0.20";
let world: World;
const slapd = slapdForFile();
before(async () => {
  world = await startWorld([`flaky IN A ${FLAKY}`, "flaky-d IN MX 10 flaky"]);
});
after(async () => {
  await world?.close();
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

/** The flaky server (hanging) and a first daemon that retries in an hour, killed at the end at the latest. */
async function startFirstRun(t: { after: (fn: () => unknown) => void }) {
  const flaky = await startFlaky(world.port);
  t.after(() => flaky.close());
  const dir = await tempDir(t, "semail-outbound-");
  const port = await freeLoopbackPort();
  const config = await writeChildConfig(
    dir,
    slapd,
    world,
    port,
    { retry: { delays: ["1h"], maxAge: "5d", delayNotice: 0 } },
    { greetingTimeout: "30s", commandTimeout: "60s" },
  );
  const first = await startChild(config, port);
  t.after(() => first.child.kill("SIGKILL"));
  return { flaky, dir, port, config, first };
}

it("no double delivery and nothing lost across a kill -9 restart", async (t) => {
  const { flaky, dir, port, config, first } = await startFirstRun(t);
  const spool = new Spool(join(dir, "spool"));

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
  await until(
    () => copies() === 1,
    () => `delivery to plain; daemon output:\n${first.output()}`,
    15_000,
  );
  await until(
    async () =>
      (await spool.journal(id)).some(
        (e) => e.kind === "reply" && e.recipient === `one@plain.${APEX}` && e.status === "delivered",
      ),
    () => `the journal entry for one@; daemon output:\n${first.output()}`,
    15_000,
  );
  await until(
    () => flaky.state.rcpts >= 1,
    () => `the delivery to flaky in flight; daemon output:\n${first.output()}`,
    15_000,
  );

  first.child.kill("SIGKILL");
  assert.equal(await first.exited, "SIGKILL");
  assert.deepEqual(await spool.ids(), [id], "the message is still spooled");

  flaky.state.hang = false;
  const second = await startChild(config, port);
  t.after(async () => {
    second.child.kill("SIGTERM");
    await second.exited;
  });
  await until(
    () => flaky.state.messages.length === 1,
    () => `delivery to flaky after the restart; daemon output:\n${second.output()}`,
    15_000,
  );
  await until(
    async () => (await spool.ids()).length === 0,
    () => `an empty spool; daemon output:\n${second.output()}`,
    15_000,
  );
  assert.equal(copies(), 1, "one@ got exactly one copy");
  assert.equal(flaky.state.messages.length, 1);
  assert.match(flaky.state.messages[0]!, /Subject: survivor/);
});

it("concurrent submissions share segment files, and every message that got 250 is delivered once after a kill -9 mid-burst", async (t) => {
  const { flaky, dir, port, config, first } = await startFirstRun(t);

  // 30 sessions of 4 messages each, all at once; deliveries hang at RCPT meanwhile.
  const acknowledged: string[] = [];
  let killed = false;
  const session = async (s: number) => {
    const client = await SmtpClient.connect(port, { timeoutMs: 30_000 });
    try {
      await client.command("EHLO client.test");
      if ((await client.command(`AUTH PLAIN ${plain("alice", TEST_USERS[0]!.password)}`)).code !== 235) return;
      for (let m = 0; m < 4 && !killed; m++) {
        const subject = `burst ${s}.${m}`;
        if ((await client.command(`MAIL FROM:<alice@plain.${APEX}>`)).code !== 250) return;
        if ((await client.command(`RCPT TO:<x${s}@flaky-d.${APEX}>`)).code !== 250) return;
        const reply = await client.data(`Subject: ${subject}\r\n\r\n${"line of the burst\r\n".repeat(40)}`);
        if (reply.code === 250) acknowledged.push(subject);
      }
    } catch {
      // The daemon was killed under this session.
    } finally {
      client.close();
    }
  };
  const burst = Promise.all(Array.from({ length: 30 }, (_, s) => session(s)));
  await until(
    () => acknowledged.length >= 40,
    () => `40 acknowledged messages; daemon output:\n${first.output()}`,
    30_000,
  );
  first.child.kill("SIGKILL");
  killed = true;
  assert.equal(await first.exited, "SIGKILL");
  await burst;
  const spool = new Spool(join(dir, "spool"));
  const segments = (await readdir(spool.queueDir)).filter((n) => n.endsWith(".seg"));
  assert.ok(
    segments.length >= 1 && segments.length < acknowledged.length,
    `messages share segment files (${segments.length} for ${acknowledged.length})`,
  );

  flaky.state.hang = false;
  const second = await startChild(config, port);
  t.after(async () => {
    second.child.kill("SIGTERM");
    await second.exited;
  });
  const delivered = () => flaky.state.messages.map((m) => /Subject: (burst \d+\.\d+)/.exec(m)?.[1] ?? "");
  await until(
    () => acknowledged.every((s) => delivered().includes(s)),
    () =>
      `every acknowledged message at flaky (${delivered().length} of ${acknowledged.length}); daemon output:\n${second.output()}`,
    60_000,
  );
  await until(
    async () => (await spool.ids()).length === 0,
    () => `an empty spool; daemon output:\n${second.output()}`,
    30_000,
  );
  const counts = new Map<string, number>();
  for (const s of delivered()) counts.set(s, (counts.get(s) ?? 0) + 1);
  assert.deepEqual(
    [...counts].filter(([, n]) => n > 1),
    [],
    "no message twice",
  );
});
