// `semail queue list | flush | remove ID` as a user runs it, against a daemon that is
// running (requests through the control directory) and against a stopped one.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { Spool } from "../../../../../mailservers/outbound/relay/spool/spool.ts";
import type { Deliver } from "../../../../../mailservers/outbound/relay/queue/queue.ts";
import { NODE, SEMAIL } from "../../child-daemon.ts";
import { daemonSettings, startDaemon } from "../../daemon-fixture.ts";
import { tempDir } from "../../../../../testkit/temp-dir.ts";
import { until } from "../../../../../testkit/until.ts";

async function semail(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(NODE, [SEMAIL, ...args], { timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout,
      stderr: err.stderr,
    }),
  );
}

const deferAll: (calls: string[][]) => Deliver = (calls) => async (job) => {
  calls.push([...job.recipients]);
  return job.recipients.map((recipient) => ({
    recipient,
    status: "deferred" as const,
    response: "451 4.2.0 mailbox busy",
    code: 451,
    enhanced: "4.2.0",
  }));
};

describe("semail queue", () => {
  it("list shows each message, its deferred recipients and the last reply", async (t) => {
    const dir = await tempDir(t);
    const spool = new Spool(`${dir}/spool`);
    const missing = await semail("queue", "list", "--spool", spool.dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no queue in .*\(setting outbound\.spool\)/);
    await spool.open({ clean: true });
    const empty = await semail("queue", "list", "--spool", spool.dir);
    assert.equal(empty.stdout, "Mail queue is empty\n");
    const record = await spool.accept(
      { from: "alice@semail.test", recipients: ["done@example.net", "wait@example.net"], arrival: Date.now() },
      Readable.from([Buffer.from("Subject: q\r\n\r\nx\r\n")]),
    );
    await spool.append(record.id, [
      { kind: "reply", recipient: "done@example.net", status: "delivered", at: Date.now(), response: "250 ok" },
      {
        kind: "reply",
        recipient: "wait@example.net",
        status: "deferred",
        at: Date.now(),
        next: Date.now() + 30 * 60_000,
        response: "451 4.2.0 mailbox busy",
      },
    ]);
    const { code, stdout } = await semail("queue", "list", "--spool", spool.dir);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^${record.id} +\\d+ .+ alice@semail\\.test$`, "m"));
    assert.match(stdout, /\(451 4\.2\.0 mailbox busy; attempt 1, next in (29|30) min\)\n +wait@example\.net/);
    assert.doesNotMatch(stdout, /done@example\.net/, "delivered recipients are not listed");
    assert.match(stdout, /in 1 message\.$/m);
  });

  it("remove with no daemon running deletes the message; a bad id is refused", async (t) => {
    const dir = await tempDir(t);
    const spool = new Spool(`${dir}/spool`);
    await spool.open({ clean: true });
    const record = await spool.accept(
      { from: "alice@semail.test", recipients: ["x@example.net"], arrival: Date.now() },
      Buffer.from("Subject: q\r\n\r\n"),
    );
    const bad = await semail("queue", "remove", "../../etc/passwd", "--spool", spool.dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a queue id/);
    const missing = await semail("queue", "remove", "ABCDEFGHIJ", "--spool", spool.dir);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such message/);
    const removed = await semail("queue", "remove", record.id, "--spool", spool.dir);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, `${record.id}: removed\n`);
    assert.deepEqual(await spool.ids(), []);
  });

  it("flush and remove reach a running daemon through its control directory", async (t) => {
    const dir = await tempDir(t);
    const calls: string[][] = [];
    const daemon = await startDaemon(t, await daemonSettings(dir), { deliver: deferAll(calls) });
    const one = await daemon.spool.accept(
      { from: "alice@semail.test", recipients: ["one@example.net"], arrival: Date.now() },
      Buffer.from("Subject: 1\r\n\r\n"),
    );
    const two = await daemon.spool.accept(
      { from: "alice@semail.test", recipients: ["two@example.net"], arrival: Date.now() },
      Buffer.from("Subject: 2\r\n\r\n"),
    );
    await daemon.queue.add(one);
    await daemon.queue.add(two);
    await daemon.queue.idle();
    assert.equal(calls.length, 2);

    const flush = await semail("queue", "flush", "--spool", daemon.spool.dir);
    assert.match(flush.stdout, new RegExp(`flush requested from semail outbound \\(pid ${process.pid}\\)`));
    await until(() => calls.length === 4, "the flushed retries");

    const removed = await semail("queue", "remove", two.id, "--spool", daemon.spool.dir);
    assert.equal(removed.stdout, `${two.id}: removed\n`);
    assert.deepEqual(await daemon.spool.ids(), [one.id]);
    assert.equal(daemon.queue.state(two.id), undefined, "the daemon forgot it too");
    const list = await semail("queue", "list", "--spool", daemon.spool.dir);
    assert.match(list.stdout, new RegExp(`^${one.id} `, "m"));
    assert.doesNotMatch(list.stdout, new RegExp(two.id));
  });
});
