// The queue with an injected sender and a clock the test moves: retry timing, mixed
// answers, bounces and DSNs, delay notices, journal replay after a restart, limits.
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { tempSpool } from "../spool/temp-spool.ts";
import { dsnParts, hard, makeQueue, ok, soft, submit, type Answer } from "./queue-fixtures.ts";

const MIN = 60_000;

describe("spool", () => {
  it("has the message on disk, envelope first, when accept resolves", async (t) => {
    const spool = await tempSpool(t);
    const record = await spool.accept(
      { from: "alice@semail.test", recipients: ["bob@example.net"], arrival: 1 },
      Readable.from([Buffer.from("Subject: x\r\n\r\nbody\r\n")]),
    );
    await access(spool.fileOf(record));
    const raw = await readFile(spool.fileOf(record), "utf8");
    assert.equal(raw.slice(record.offset), "Subject: x\r\n\r\nbody\r\n");
    assert.deepEqual(await spool.ids(), [record.id]);
    assert.deepEqual((await spool.read(record.id)).recipients, ["bob@example.net"]);
  });

  it("refuses a queue id that could be a path", async (t) => {
    const spool = await tempSpool(t);
    assert.throws(() => spool.msgPath("../../etc/passwd"), /not a queue id/);
  });

  it("skips a torn last journal line", async (t) => {
    const spool = await tempSpool(t);
    const record = await spool.accept(
      { from: "a@semail.test", recipients: ["b@example.net"], arrival: 1 },
      Buffer.from("x"),
    );
    await spool.append(record.id, [{ kind: "reply", recipient: "b@example.net", status: "deferred", at: 2, next: 3 }]);
    const { appendFile } = await import("node:fs/promises");
    await appendFile(spool.logPath(record.id), '{"r":"b@example.net","s":"deliv');
    assert.equal((await spool.journal(record.id)).length, 1);
  });
});

describe("queue", () => {
  it("retries a 451 by the retry table and delivers on the third attempt", async (t) => {
    const answer: Answer = (r, a, n) => (n <= 2 ? soft(r, a, n) : ok(r, a, n));
    const f = await makeQueue(await tempSpool(t), answer);
    const t0 = f.clock.now();
    const record = await submit(f, "alice@semail.test", ["bob@example.net"]);
    await f.run(59 * 1000);
    assert.equal(f.attempts.length, 1, "first attempt at once, no retry before 60 s");
    await f.run(3 * 60 * 60 * 1000);
    assert.deepEqual(
      f.attempts.map((a) => a.at - t0),
      [0, 1 * MIN, 3 * MIN],
    );
    assert.equal(f.queue.size, 0);
    assert.deepEqual(await f.spool.ids(), [], "a delivered message leaves the spool");
    assert.equal(f.attempts[2]!.job.envelopeId, record.id);
  });

  it("retries only the deferred recipients of a mixed answer", async (t) => {
    const answer: Answer = (r, a, n) => (r.startsWith("later@") && n === 1 ? soft(r, a, n) : ok(r, a, n));
    const f = await makeQueue(await tempSpool(t), answer);
    await submit(f, "alice@semail.test", ["now@example.net", "later@example.net"]);
    await f.run(10 * MIN);
    assert.deepEqual(
      f.attempts.map((a) => a.job.recipients),
      [["now@example.net", "later@example.net"], ["later@example.net"]],
    );
  });

  it("groups recipients per domain", async (t) => {
    const f = await makeQueue(await tempSpool(t), ok);
    await submit(f, "alice@semail.test", ["a@one.example", "b@two.example", "c@one.example"]);
    await f.run(0);
    const jobs = f.attempts.map((a) => [a.job.domain, a.job.recipients]).sort();
    assert.deepEqual(jobs, [
      ["one.example", ["a@one.example", "c@one.example"]],
      ["two.example", ["b@two.example"]],
    ]);
  });

  it("bounces a 550 at once with an RFC 3464 DSN to the sender from <>", async (t) => {
    const answer: Answer = (r, a, n) => (r.startsWith("nobody@") ? hard(r, a, n) : ok(r, a, n));
    const f = await makeQueue(await tempSpool(t), answer);
    const record = await submit(f, "alice@semail.test", ["nobody@example.net", "bob@example.net"]);
    await f.run(0);
    const dsnAttempt = f.attempts.find((a) => a.job.mailFrom === "");
    assert.ok(dsnAttempt, "a DSN was sent");
    assert.deepEqual(dsnAttempt.job.recipients, ["alice@semail.test"]);
    assert.equal(dsnAttempt.job.domain, "semail.test");
    const { parsed: dsn, parts } = await dsnParts(dsnAttempt.body);
    assert.match(dsn.from!.text, /MAILER-DAEMON@relay\.semail\.test/);
    assert.equal(dsn.to && !Array.isArray(dsn.to) ? dsn.to.text : "", "alice@semail.test");
    assert.equal(dsn.headers.get("auto-submitted"), "auto-replied");
    assert.match(parts.get("text/plain") ?? "", /nobody@example\.net/);
    const report = parts.get("message/delivery-status");
    assert.ok(report, "has a message/delivery-status part");
    assert.match(report, /^Reporting-MTA: dns; relay\.semail\.test$/m);
    assert.match(report, /^Arrival-Date: .+\+0000$/m);
    assert.match(report, /^Final-Recipient: rfc822; nobody@example\.net$/m);
    assert.match(report, /^Action: failed$/m);
    assert.match(report, /^Status: 5\.1\.1$/m);
    assert.match(report, /^Remote-MTA: dns; mx\.example\.net$/m);
    assert.match(report, /^Diagnostic-Code: smtp; 550 5\.1\.1 no such user$/m);
    assert.doesNotMatch(report, /bob@example\.net/, "the delivered recipient is not reported");
    const headers = parts.get("text/rfc822-headers");
    assert.ok(headers, "has the original headers");
    assert.match(headers, /^Message-ID: <m1@semail\.test>$/m);
    assert.doesNotMatch(headers, /Hi Bob/, "headers only, not the body");
    assert.equal(f.queue.size, 0);
    assert.equal(record.id.length > 0, true);
  });

  it("never bounces to the null sender, and never a DSN about a DSN", async (t) => {
    const f = await makeQueue(await tempSpool(t), hard);
    await submit(f, "", ["nobody@example.net"]);
    await submit(f, "alice@semail.test", ["nobody@example.net"]);
    await f.run(0);
    // The second message bounces; its DSN to alice bounces too; nothing more.
    const nullSender = f.attempts.filter((a) => a.job.mailFrom === "");
    assert.equal(nullSender.length, 2, "the <> message and one DSN");
    assert.equal(f.attempts.length, 3);
    assert.ok(
      f.attempts.every((a) => a.job.recipients.every((r) => r !== "")),
      "nothing addressed to <>",
    );
    assert.equal(f.queue.size, 0);
  });

  it("gives up after maxAge and reports the last transient reply", async (t) => {
    const f = await makeQueue(await tempSpool(t), (r, a, n) => (r.startsWith("alice@") ? ok(r, a, n) : soft(r, a, n)), {
      retry: { delays: [10 * MIN, 30 * MIN], maxAge: 2 * 60 * MIN },
    });
    const t0 = f.clock.now();
    await submit(f, "alice@semail.test", ["slow@example.net"]);
    await f.run(5 * 60 * MIN);
    const tries = f.attempts.filter((a) => a.job.domain === "example.net").map((a) => (a.at - t0) / MIN);
    // 0, +10, then every 30 min; the last try is at the 2 h deadline, then the bounce.
    assert.deepEqual(tries, [0, 10, 40, 70, 100, 120]);
    const dsnAttempt = f.attempts.find((a) => a.job.mailFrom === "");
    assert.ok(dsnAttempt);
    assert.equal(dsnAttempt.at - t0, 120 * MIN);
    const report = (await dsnParts(dsnAttempt.body)).parts.get("message/delivery-status") ?? "";
    assert.match(report, /^Action: failed$/m);
    assert.match(report, /^Status: 4\.3\.0$/m);
    assert.match(report, /^Diagnostic-Code: smtp; 451 4\.3\.0 try later$/m);
    assert.equal(f.queue.size, 0);
  });

  it("sends one delay notice after the configured time, then keeps retrying", async (t) => {
    const answer: Answer = (r, a, n) => (r.startsWith("alice@") || n >= 5 ? ok(r, a, n) : soft(r, a, n));
    const f = await makeQueue(await tempSpool(t), answer, {
      retry: { delays: [10 * MIN], maxAge: 24 * 60 * MIN, delayNotice: 25 * MIN },
    });
    const t0 = f.clock.now();
    await submit(f, "alice@semail.test", ["slow@example.net"]);
    await f.run(2 * 60 * MIN);
    const notices = f.attempts.filter((a) => a.job.mailFrom === "");
    assert.equal(notices.length, 1, "exactly one delay notice");
    assert.equal(notices[0]!.at - t0, 30 * MIN, "at the first attempt past 25 min");
    const report = (await dsnParts(notices[0]!.body)).parts.get("message/delivery-status") ?? "";
    assert.match(report, /^Action: delayed$/m);
    assert.match(report, /^Will-Retry-Until: /m);
    assert.equal(f.attempts.filter((a) => a.job.domain === "example.net").length, 5);
    assert.equal(f.queue.size, 0);
  });

  it("after a restart resumes from the journal and does not resend to delivered recipients", async (t) => {
    const spool = await tempSpool(t);
    const answer: Answer = (r, a, n) => (r.startsWith("later@") ? soft(r, a, n) : ok(r, a, n));
    const first = await makeQueue(spool, answer);
    const record = await submit(first, "alice@semail.test", ["now@example.net", "later@example.net"]);
    await first.run(0);
    await first.queue.stop();
    assert.deepEqual(await spool.ids(), [record.id]);

    const second = await makeQueue(spool, ok, { clock: first.clock });
    assert.equal(second.attempts.length, 0, "the deferred recipient waits for its retry time");
    assert.equal(second.queue.state(record.id)?.get("now@example.net")?.status, "delivered");
    await second.run(2 * MIN);
    assert.deepEqual(
      second.attempts.map((a) => a.job.recipients),
      [["later@example.net"]],
    );
    assert.deepEqual(await spool.ids(), []);
  });

  it("queues the DSN at start when a crash came between the bounce and its DSN", async (t) => {
    const spool = await tempSpool(t);
    const record = await spool.accept(
      { from: "alice@semail.test", recipients: ["x@example.net"], arrival: Date.UTC(2026, 0, 1) },
      Buffer.from("Subject: s\r\n\r\nb\r\n"),
    );
    // The journal line as a spool of an earlier version has it on disk.
    await writeFile(
      spool.logPath(record.id),
      `{"r":"x@example.net","s":"bounced","t":${Date.UTC(2026, 0, 1)},"x":"550 5.1.1 gone","c":550,"e":"5.1.1"}\n`,
    );
    const f = await makeQueue(spool, ok);
    await f.run(0);
    assert.deepEqual(
      f.attempts.map((a) => [a.job.mailFrom, a.job.recipients]),
      [["", ["alice@semail.test"]]],
    );
    assert.deepEqual(await spool.ids(), []);
  });

  it("keeps to the per-domain and global concurrency limits", async (t) => {
    let active = new Map<string, number>();
    let peak = new Map<string, number>();
    let total = 0;
    let peakTotal = 0;
    const gate = async (a: { job: { domain: string } }) => {
      const d = a.job.domain;
      active.set(d, (active.get(d) ?? 0) + 1);
      total++;
      peak.set(d, Math.max(peak.get(d) ?? 0, active.get(d)!));
      peakTotal = Math.max(peakTotal, total);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 5));
      active.set(d, active.get(d)! - 1);
      total--;
    };
    const f = await makeQueue(await tempSpool(t), ok, { concurrency: 5, perDomainConcurrency: 2, gate });
    for (let i = 0; i < 8; i++) await submit(f, "alice@semail.test", [`u${i}@busy.example`]);
    for (let i = 0; i < 8; i++)
      await submit(f, "alice@semail.test", [`u${i}@a.example`, `u${i}@b.example`, `u${i}@c.example`]);
    await f.run(0);
    assert.equal(f.attempts.length, 32);
    assert.ok(
      [...peak.values()].every((p) => p <= 2),
      `per-domain peak ${JSON.stringify([...peak])}`,
    );
    assert.equal(peak.get("busy.example"), 2, "the limit is reached, not just respected");
    assert.ok(peakTotal <= 5 && peakTotal >= 4, `global peak ${peakTotal}`);
    active = new Map();
    peak = new Map();
  });

  it("flush makes deferred recipients due now; remove drops a message", async (t) => {
    const answer: Answer = (r, a, n) => (n === 1 ? soft(r, a, n) : ok(r, a, n));
    const f = await makeQueue(await tempSpool(t), answer);
    const one = await submit(f, "alice@semail.test", ["one@example.net"]);
    const two = await submit(f, "alice@semail.test", ["two@example.net"]);
    await f.run(0);
    assert.equal(f.attempts.length, 2);
    assert.equal(await f.queue.remove(two.id), true);
    assert.deepEqual(await f.spool.ids(), [one.id]);
    f.queue.flush();
    await f.queue.idle();
    assert.equal(f.attempts.length, 3, "retried without moving the clock");
    assert.deepEqual(f.attempts[2]!.job.recipients, ["one@example.net"]);
    assert.deepEqual(await f.spool.ids(), []);
  });

  it("a journal that cannot be written does not turn into a resend loop", async (t) => {
    const spool = await tempSpool(t);
    let failures = 0;
    spool.append = async () => {
      failures++;
      throw Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
    };
    const f = await makeQueue(spool, (r, a, n) => (r.startsWith("later@") ? soft(r, a, n) : ok(r, a, n)));
    await submit(f, "alice@semail.test", ["now@example.net", "later@example.net"]);
    await f.run(30 * 1000);
    assert.deepEqual(
      f.attempts.map((a) => a.job.recipients),
      [["now@example.net", "later@example.net"]],
      "no immediate retry",
    );
    assert.ok(failures >= 1);
    await f.run(2 * MIN);
    assert.deepEqual(
      f.attempts.slice(1).map((a) => a.job.recipients),
      [["later@example.net"]],
      "the accepted recipient is not resent",
    );
  });
});
