// Fault row: the wall clock jumps forward a day, then back an hour. The outbound queue's
// retries and the web form's domain-proof re-checks keep their schedule: a due retry runs once
// (no burst of missed slots), the queue's lifetime rule judges the message by the wall clock
// (a message past maxAge still gets its due try, and bounces only if that try fails too), and
// after the jump back nothing waits an extra hour: waits are measured on the monotonic
// elapsed() clock (lib/clock.ts), not by subtracting wall times.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { silentLogger } from "../../lib/logger.ts";
import { ProofChecker } from "../../webform/proof-checker.ts";
import { UsersListFile } from "../../webform/users-list-file.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { until, untilValue } from "../../testkit/until.ts";
import { startTestSlapd, TEST_USERS } from "../helpers/slapd.ts";
import { startTarget } from "../helpers/target-smtp.ts";
import { daemonSettings, startDaemon } from "../mailservers/outbound/daemon-fixture.ts";
import { LIST_OPTIONS } from "../webform/helpers.ts";
import { jumpingClock } from "./jumping-clock.ts";
import { faultTag, Ledger } from "./ledger.ts";
import { recordOutcome } from "./outcome.ts";
import { arrivalsAt, subjectOf, submitTagged, submitToLedger, type SubmitOptions } from "./submit.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ALICE = TEST_USERS.find((u) => u.uid === "alice")!;
/** First RCPT answered 451, then accepted. */
const FORWARD = "forward@dest.test";
const BACK = "back@dest.test";
/** Always 451: what the lifetime rule bounces. */
const NEVER = "never@dest.test";

test("clock jumps: the queue retries once when due, bounces by its lifetime rule, waits no extra hour", async (t) => {
  const rcpts = new Map<string, number>();
  const target = await startTarget({
    host: "127.0.0.2",
    rcpt: (address) => {
      const n = (rcpts.get(address) ?? 0) + 1;
      rcpts.set(address, n);
      return address === NEVER || (address !== "alice@semail.test" && n === 1)
        ? [451, "4.2.1 Mailbox busy"]
        : undefined;
    },
  });
  t.after(() => target.close());
  const slapd = await startTestSlapd();
  t.after(() => slapd.stop());
  const clock = jumpingClock();
  const dir = await tempDir(t, "semail-fault-clock-");
  const daemon = await startDaemon(
    t,
    await daemonSettings(dir, {
      ldap: slapd.settings(),
      outbound: {
        // A day is past maxAge: the jump forward makes every queued message too old to wait on.
        retry: { delays: ["4s"], maxAge: "12h", delayNotice: 0 },
        delivery: {
          relayHost: { host: target.host, port: target.port },
          mtaSts: false,
          connectionIdleTime: 0,
          localAddresses: ["127.0.0.11"],
        },
      },
    }),
    { clock },
  );
  const ledger = new Ledger();
  const options = (to: string, tag: string): SubmitOptions => ({
    port: daemon.port,
    user: "alice",
    password: ALICE.password,
    from: "alice@semail.test",
    to,
    tag,
  });
  const stateOf = (id: string, rcpt: string) => daemon.queue.state(id)?.get(rcpt);
  const deferredOnce = (id: string, rcpt: string) =>
    until(() => stateOf(id, rcpt)?.status === "deferred", `${rcpt} deferred after its first try`, 30_000);

  // Forward a day, with two messages waiting for their 4 s retry.
  const forwardTag = faultTag(0);
  const forward = await submitToLedger(ledger, options(FORWARD, forwardTag));
  // Not in the ledger: this one is meant to bounce, not to arrive.
  const expiring = await submitTagged(options(NEVER, "expiring"));
  assert.equal(expiring.final.code, 250);
  const forwardId = /queued as (\S+)/.exec(forward?.final.text ?? "")![1]!;
  const expiringId = /queued as (\S+)/.exec(expiring.final.text)![1]!;
  await deferredOnce(forwardId, FORWARD);
  await deferredOnce(expiringId, NEVER);
  clock.jump(DAY);
  await until(() => arrivalsAt(target).has(forwardTag), "the forward message delivered after its retry", 30_000);
  // The too-old message: its due try ran, failed again, and it bounced to alice.
  const bounce = await untilValue(
    () => target.messages.find((m) => m.recipients.includes("alice@semail.test")),
    "the expired message's bounce to alice",
    30_000,
  );
  assert.match(bounce.raw.toString("latin1"), /never@dest\.test/);
  assert.equal(rcpts.get(FORWARD), 2, "one retry after the jump, not one per missed slot");
  assert.equal(rcpts.get(NEVER), 2, "the too-old message still got its due try, once");

  // Back an hour, with one message waiting for its 4 s retry.
  const backTag = faultTag(1);
  const back = await submitToLedger(ledger, options(BACK, backTag));
  const backId = /queued as (\S+)/.exec(back?.final.text ?? "")![1]!;
  await deferredOnce(backId, BACK);
  clock.jump(-HOUR);
  const jumpedAt = Date.now();
  // Generous next to 4 s, far short of the hour the wall clock now says is left.
  await until(() => arrivalsAt(target).has(backTag), "the back message delivered on its 4 s schedule", 30_000);
  const recoveryMs = Date.now() - jumpedAt;
  assert.equal(rcpts.get(BACK), 2);

  await daemon.queue.idle();
  await recordOutcome({
    fault: "clock jumps forward a day, back an hour",
    ...ledger.tally(arrivalsAt(target)),
    recoveryMs,
    note: `+1 day: due retry once, a message past maxAge (12h) tried once more then bounced; −1 h: retry on its 4 s schedule; bounce subject ${JSON.stringify(subjectOf(bounce.raw) ?? "")}`,
  });
});

test("clock jumps: the proof checker's re-checks keep their schedule", async (t) => {
  const dir = await tempDir(t, "semail-fault-proof-");
  const file = join(dir, "users.yaml");
  const token = "0123456789abcdef0123456789abcdef";
  await writeFile(file, `mailboxes:\n  - {owner: carol, address: carol@carol.example, pendingProof: ${token}}\n`);
  const store = new UsersListFile(file, LIST_OPTIONS, silentLogger());
  let wall = Date.UTC(2026, 11, 7, 12, 0);
  let elapsed = 1000;
  const advance = (ms: number) => {
    wall += ms;
    elapsed += ms;
  };
  let lookups = 0;
  const checker = new ProofChecker({
    read: () => store.read(),
    update: (change) => store.update(change),
    lookup: async () => {
      lookups++;
      return { state: "absent" };
    },
    onProven: () => undefined,
    logger: silentLogger(),
    clock: () => wall,
    elapsed: () => elapsed,
    schedule: [0, 60_000, 120_000, 300_000],
  });
  t.after(() => checker.close());

  await checker.tick();
  assert.equal(lookups, 1, "the first try at once");
  // A day forward: the next try is still a minute after the first, and the round is not spent.
  wall += DAY;
  for (let i = 0; i < 5; i++) await checker.tick();
  assert.equal(lookups, 1, "no try made due by the wall clock alone");
  advance(60_000);
  for (let i = 0; i < 5; i++) await checker.tick();
  assert.equal(lookups, 2, "the due try once, however many ticks");
  assert.equal(checker.state("carol", token).nextCheckAt, wall + 60_000, "the page shows the next try in wall time");

  // An hour back: the next try is still a minute away, not an hour and a minute.
  wall -= HOUR;
  advance(60_000);
  await checker.tick();
  assert.equal(lookups, 3, "due on schedule after the jump back");
  // Check now is rate-limited by elapsed time: a jump back does not make it wait an hour.
  advance(10_000);
  wall -= HOUR;
  await checker.checkNow("carol");
  assert.equal(lookups, 4);
});
