// Connection reuse, against a real SMTP server on loopback: a session carries the next
// message to the same server after RSET, a failed one is never reused, a reused one lost
// before DATA is replaced once without sending twice, idle sessions close, and the queue's
// per-domain limit still bounds the connections.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test, type TestContext } from "node:test";
import { silentLogger } from "../../../../../lib/logger.ts";
import { systemClock } from "../../../../../lib/clock.ts";
import { Queue } from "../../../../../mailservers/outbound/relay/queue/queue.ts";
import {
  createSender,
  type DeliveryOptions,
  type RecipientResult,
  type Sender,
} from "../../../../../mailservers/outbound/relay/delivery/send.ts";
import { Spool } from "../../../../../mailservers/outbound/relay/spool/spool.ts";
import { until } from "../../../../../testkit/until.ts";
import { startSessionSink, type SessionSink } from "./session-sink.ts";

const DOMAIN = "pool.test";
const neverAsked = { resolve: () => Promise.reject(new Error("the relay host needs no MX lookup")) };

/** A sink and a sender that relays everything to it; both closed after the test, the sender first. */
async function setUp(
  t: TestContext,
  overrides: Partial<DeliveryOptions> = {},
  sinkOptions: { idleTimeoutMs?: number } = {},
): Promise<{ sink: SessionSink; sender: Sender }> {
  const sink = await startSessionSink("127.0.0.1", sinkOptions);
  const sender = createSender({
    resolver: neverAsked,
    ehloName: "relay.pool.test",
    relayHost: { host: sink.host, port: sink.port },
    connectTimeoutMs: 2000,
    greetingTimeoutMs: 2000,
    commandTimeoutMs: 5000,
    // Long enough that no session goes idle between two messages of a test, however slow the machine.
    connectionIdleMs: 60_000,
    ...overrides,
  });
  t.after(async () => {
    await sender.close();
    await until(() => sink.open === 0, "the sink's sessions to close");
    await sink.close();
  });
  return { sink, sender };
}

function send(sender: Sender, local: string): Promise<RecipientResult[]> {
  return sender.deliver({
    domain: DOMAIN,
    mailFrom: "alice@sender.test",
    recipients: [`${local}@${DOMAIN}`],
    envelopeId: local,
    message: () => Readable.from([Buffer.from(`Subject: ${local}\r\n\r\nHello.\r\n`)]),
  });
}

const sessionOf = (sink: SessionSink, local: string) =>
  sink.messages.find((m) => m.recipients.includes(`${local}@${DOMAIN}`))?.session;

test("a connection is reused for the next message to the same server", async (t) => {
  const { sink, sender } = await setUp(t);
  for (const local of ["r1", "r2", "r3"]) assert.equal((await send(sender, local))[0]?.status, "delivered");
  assert.equal(sink.connections, 1);
  assert.deepEqual(
    sink.messages.map((m) => m.transaction),
    [1, 2, 3],
  );
  assert.equal(sessionOf(sink, "r1"), sessionOf(sink, "r3"));
});

test("without an idle time each message gets its own connection", async (t) => {
  const { sink, sender } = await setUp(t, { connectionIdleMs: 0 });
  for (const local of ["o1", "o2"]) assert.equal((await send(sender, local))[0]?.status, "delivered");
  assert.equal(sink.connections, 2);
});

test("a 451 after DATA defers that message and its connection is not reused", async (t) => {
  const { sink, sender } = await setUp(t);
  sink.faults.tempfailData.add(`f2@${DOMAIN}`);
  assert.equal((await send(sender, "f1"))[0]?.status, "delivered");
  const [failed] = await send(sender, "f2");
  assert.equal(failed?.status, "deferred");
  assert.equal(failed?.code, 451);
  assert.equal((await send(sender, "f3"))[0]?.status, "delivered", "the next message gets a working connection");
  assert.equal(sink.connections, 2);
  assert.notEqual(sessionOf(sink, "f3"), sessionOf(sink, "f1"), "the session that failed carried nothing more");
});

test("a reused session dropped after the message, before its reply: deferred, not sent again, and the next message gets a new session", async (t) => {
  const { sink, sender } = await setUp(t);
  sink.faults.dropAfterData.add(`d2@${DOMAIN}`);
  assert.equal((await send(sender, "d1"))[0]?.status, "delivered");
  const [lost] = await send(sender, "d2");
  assert.equal(lost?.status, "deferred", String(lost?.response));
  // The server may have taken it: it is not handed to another session in the same attempt.
  assert.equal(sink.dataSeen.get(`d2@${DOMAIN}`), 1);
  assert.equal(sink.connections, 1);
  assert.equal((await send(sender, "d3"))[0]?.status, "delivered");
  assert.equal(sink.connections, 2);
});

test("a reused session that dies between RSET and MAIL: the message goes once, on a new session", async (t) => {
  const { sink, sender } = await setUp(t);
  assert.equal((await send(sender, "k1"))[0]?.status, "delivered");
  sink.faults.dropReusedAtMail = 1;
  const [result] = await send(sender, "k2");
  assert.equal(result?.status, "delivered", String(result?.response));
  assert.equal(sink.drops, 1, "the reused session was dropped");
  assert.equal(sink.connections, 2);
  assert.equal(sink.deliveredTo(`k2@${DOMAIN}`), 1);
  assert.equal(sink.dataSeen.get(`k2@${DOMAIN}`), 1, "no message is sent twice");
});

test("a new session that dies too is not tried a third time", async (t) => {
  const { sink, sender } = await setUp(t);
  assert.equal((await send(sender, "n1"))[0]?.status, "delivered");
  sink.faults.dropReusedAtMail = 1;
  sink.faults.dropAfterData.add(`n2@${DOMAIN}`);
  const [result] = await send(sender, "n2");
  assert.equal(result?.status, "deferred");
  assert.equal(sink.connections, 2);
  assert.equal(sink.dataSeen.get(`n2@${DOMAIN}`), 1);
});

test("a session the server closed while idle is not used; the message goes on a new one", async (t) => {
  const { sink, sender } = await setUp(t, {}, { idleTimeoutMs: 200 });
  assert.equal((await send(sender, "s1"))[0]?.status, "delivered");
  await until(() => sink.open === 0, "the server to close the idle session");
  const [result] = await send(sender, "s2");
  assert.equal(result?.status, "delivered", String(result?.response));
  assert.equal(sink.connections, 2);
  assert.equal(sink.deliveredTo(`s2@${DOMAIN}`), 1);
});

test("an idle session is closed after the idle time", async (t) => {
  const { sink, sender } = await setUp(t, { connectionIdleMs: 100 });
  assert.equal((await send(sender, "i1"))[0]?.status, "delivered");
  await until(() => sink.open === 0, "the sender to close its idle session", 10_000);
  assert.equal(sink.connections, 1);
});

test("closing the sender closes its idle sessions", async (t) => {
  const { sink, sender } = await setUp(t);
  assert.equal((await send(sender, "c1"))[0]?.status, "delivered");
  assert.equal(sink.open, 1, "kept open for the next message");
  await sender.close();
  await until(() => sink.open === 0, "the idle session to close");
  assert.equal((await send(sender, "c2"))[0]?.status, "deferred", "a closed sender sends nothing");
});

test("the queue's per-domain limit bounds the connections, with reuse", async (t) => {
  const { sink, sender } = await setUp(t);
  const dir = await mkdtemp(join(tmpdir(), "semail-pool-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spool = new Spool(dir);
  await spool.open({ clean: true });
  const queue = new Queue({
    spool,
    deliver: (job) => sender.deliver(job),
    clock: systemClock,
    retry: { delays: [3_600_000], maxAge: 86_400_000, delayNotice: 0 },
    concurrency: 10,
    perDomainConcurrency: 2,
    hostname: "relay.pool.test",
    logger: silentLogger(),
  });
  await queue.start();
  t.after(() => queue.stop());
  const count = 12;
  for (let i = 0; i < count; i++) {
    const record = await spool.accept(
      { from: "alice@sender.test", recipients: [`q${i}@${DOMAIN}`], arrival: Date.now() },
      Readable.from([Buffer.from(`Subject: q${i}\r\n\r\nHello.\r\n`)]),
    );
    await queue.add(record);
  }
  await until(() => sink.messages.length === count, `${count} messages at the sink`, 30_000);
  await queue.idle();
  assert.ok(sink.maxOpen <= 2, `at most 2 sessions open at once, saw ${sink.maxOpen}`);
  assert.ok(sink.connections <= 2, `connections were reused: ${sink.connections} for ${count} messages`);
  for (let i = 0; i < count; i++) assert.equal(sink.deliveredTo(`q${i}@${DOMAIN}`), 1);
});
