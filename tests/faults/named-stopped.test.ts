// Fault row: named stopped. Outbound (MX lookups at the test's named) takes every message with
// a 250 and defers it with a DNS reason in its queue, retrying on a short schedule; inbound
// (arrival checks on for loopback, asking the same named) keeps receiving with 250 and a
// temperror verdict. named started again on the same port: everything deferred is delivered once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startNamed, type RunningNamed } from "../../deploy/local/named.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { zoneText } from "../helpers/named.ts";
import { startTestSlapd, TEST_USERS } from "../helpers/slapd.ts";
import { sendMessage, simpleMessage } from "../helpers/smtp.ts";
import { readMbox, startFixture } from "../mailservers/inbound/fixture.ts";
import { daemonSettings, startDaemon } from "../mailservers/outbound/daemon-fixture.ts";
import { APEX, RECORDS, startWorld } from "../mailservers/outbound/relay/delivery/fixture.ts";
import { countTags, faultTag, Ledger } from "./ledger.ts";
import { recordOutcome } from "./outcome.ts";
import { arrivalsAt, submitToLedger } from "./submit.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!;
/** MX 10 a.t.test, the world's accepting target. */
const OUT_RCPT = `someone@plain.${APEX}`;
const IN_RCPT = "souleymane@sow.semail.test";
const PER_PHASE = 4;

test("named stopped: outbound defers with a DNS reason and retries, inbound keeps receiving", async (t) => {
  const world = await startWorld();
  t.after(() => world.close());
  const slapd = await startTestSlapd();
  t.after(() => slapd.stop());
  const dir = await tempDir(t, "semail-fault-named-");
  const outbound = await startDaemon(
    t,
    await daemonSettings(dir, {
      ldap: slapd.settings(),
      outbound: {
        // A short schedule, so the row sees retries in seconds.
        retry: { delays: ["1s"] },
        delivery: {
          resolver: world.named.server,
          smtpPort: world.port,
          // Short enough for a quick row, long enough that a busy CI host's named answers in time.
          dnsTimeout: 1000,
          ipFamily: "ipv4",
          mtaSts: false,
          localAddresses: ["127.0.0.11"],
        },
      },
    }),
  );
  const inbound = await startFixture(t, {
    inbound: { resolver: world.named.server, uncheckedNetworks: [], dnsTimeout: 2000, authTimeout: 6000 },
  });

  const outLedger = new Ledger();
  const inLedger = new Ledger();
  let next = 0;
  const queueIds = new Map<string, string>();
  const sendOut = async () => {
    const tag = faultTag(next++);
    const s = await submitToLedger(outLedger, {
      port: outbound.port,
      user: "alice",
      password: ALICE.password,
      from: "alice@semail.test",
      to: OUT_RCPT,
      tag,
    });
    const id = /queued as (\S+)/.exec(s?.final.text ?? "")?.[1];
    if (id) queueIds.set(tag, id);
    return tag;
  };
  const sendIn = async () => {
    const tag = faultTag(next++);
    const reply = await sendMessage(inbound.port, {
      from: `someone@sender.${APEX}`,
      to: [IN_RCPT],
      data: simpleMessage({ from: `someone@sender.${APEX}`, to: IN_RCPT, subject: tag }),
    }).catch((err: unknown) => ({ code: 0, text: `dropped: ${(err as Error).message}` }));
    if (reply.code === 250) inLedger.accepted(tag);
    else inLedger.refused(tag, `${reply.code} ${reply.text}`);
    return tag;
  };
  const inboxArrivals = async () =>
    countTags((await readMbox(inbound.inbox("sow"))).map((m) => m.subject ?? undefined));

  // Before: both ways work.
  const inBefore: string[] = [];
  for (let i = 0; i < PER_PHASE; i++) inBefore.push((await Promise.all([sendOut(), sendIn()]))[1]);
  await until(() => world.targets.a.messages.length >= PER_PHASE, "outbound delivers before the fault", 30_000);

  // The fault: named stopped; its port answers nothing now.
  await world.named.stop();
  const deferredTags: string[] = [];
  const inOutage: string[] = [];
  for (let i = 0; i < PER_PHASE; i++) {
    deferredTags.push(await sendOut());
    inOutage.push(await sendIn());
  }
  // Each outage message deferred with a DNS reason, and tried again (attempts > 1) while named is down.
  const reasons = await untilValue(
    () => {
      const states = deferredTags.map((tag) => outbound.queue.state(queueIds.get(tag) ?? "")?.get(OUT_RCPT));
      if (!states.every((s) => s?.status === "deferred" && s.attempts >= 2)) return undefined;
      return states.map((s) => s!.response ?? "");
    },
    "every outage message deferred twice",
    30_000,
  );
  for (const reason of reasons) assert.match(reason, /DNS lookup failed temporarily/);
  const deliveredInOutage = arrivalsAt(world.targets.a);
  for (const tag of deferredTags) assert.ok(!deliveredInOutage.has(tag), `${tag} delivered while named was down`);

  // Cleared: named again, same port, same zone.
  const namedDir = await tempDir(t, "semail-fault-named-again-");
  const again: RunningNamed = await startNamed({
    dataDir: namedDir,
    port: world.named.port,
    zones: [{ name: APEX, text: zoneText(APEX, RECORDS) }],
  });
  t.after(() => again.stop());
  const clearedAt = Date.now();
  await until(
    () => deferredTags.some((tag) => arrivalsAt(world.targets.a).has(tag)),
    "a deferred message delivered after named is back",
    30_000,
  );
  const recoveryMs = Date.now() - clearedAt;
  for (let i = 0; i < PER_PHASE; i++) await Promise.all([sendOut(), sendIn()]);

  const outAccepted = outLedger.tally(new Map()).accepted;
  await until(
    () => world.targets.a.messages.length >= outAccepted,
    `all ${outAccepted} outbound messages delivered`,
    30_000,
  );
  await outbound.queue.idle();
  const inAccepted = inLedger.tally(new Map()).accepted;
  await until(async () => (await inboxArrivals()).size >= inAccepted, "inbound messages in the INBOX", 30_000);

  // Inbound: 250 all through, and the outage messages carry a temperror verdict.
  assert.deepEqual([...inLedger.refusals], [], "inbound refused mail while named was down");
  const inbox = await readMbox(inbound.inbox("sow"));
  const resultsOf = (tag: string) =>
    inbox.find((m) => m.subject === tag)?.headers.find(([k]) => k.toLowerCase() === "authentication-results")?.[1] ??
    "";
  for (const tag of inOutage) assert.match(resultsOf(tag), /spf=temperror/, `${tag}: ${resultsOf(tag)}`);
  // ...which the checks did not give before named stopped: the outage really reached them.
  for (const tag of inBefore) assert.match(resultsOf(tag), /spf=none/, `${tag}: ${resultsOf(tag)}`);

  const outTally = outLedger.tally(arrivalsAt(world.targets.a));
  const inTally = inLedger.tally(await inboxArrivals());
  assert.equal(outTally.accepted, 3 * PER_PHASE, `outbound refusals: ${outLedger.refusalSummary()}`);
  // The two daemons' ledgers as one row: their tags do not overlap.
  await recordOutcome({
    fault: "named stopped (outbound MX, inbound checks)",
    sent: outTally.sent + inTally.sent,
    accepted: outTally.accepted + inTally.accepted,
    delivered: outTally.delivered + inTally.delivered,
    lost: outTally.lost + inTally.lost,
    duplicated: outTally.duplicated + inTally.duplicated,
    lostTags: [...outTally.lostTags, ...inTally.lostTags],
    duplicatedTags: [...outTally.duplicatedTags, ...inTally.duplicatedTags],
    unacceptedTags: [...outTally.unacceptedTags, ...inTally.unacceptedTags],
    recoveryMs,
    note: `outbound: ${PER_PHASE} deferred "DNS lookup failed temporarily" (≥2 tries each), delivered once after; inbound: ${inOutage.length} × 250 with spf=temperror`,
  });
});
