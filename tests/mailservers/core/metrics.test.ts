// Each daemon's Prometheus metrics, scraped with curl as an operator would: the counters move
// with real sessions (accepted, refused by stage and code, AUTH outcomes, deliveries), the
// queue's gauges answer, and a bad metricsListen stops start-up naming the setting.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { parseSettings } from "../../../config/settings.ts";
import type { Deliver } from "../../../mailservers/outbound/relay/index.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { SmtpClient, sendMessage, simpleMessage } from "../../helpers/smtp.ts";
import { startFixture } from "../inbound/fixture.ts";
import { daemonSettings, plain, startDaemon } from "../outbound/daemon-fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const run = promisify(execFile);
const slapd = slapdForFile();
const alice = TEST_USERS.find((u) => u.uid === "alice")!;

/** GET http://ADDRESS/metrics with curl; the samples by their series, "name{labels}" → value. */
async function scrape(address: string): Promise<Map<string, number>> {
  const { stdout } = await run("curl", ["-sf", "--max-time", "10", `http://${address}/metrics`]);
  const samples = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const match = /^(semail_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

describe("metrics", () => {
  it("inbound counts sessions, messages stored, refusals by stage and code, and the store's commit time", async (t) => {
    const f = await startFixture(t, { inbound: { metricsListen: "127.0.0.1:0" } });
    const address = f.daemon.metricsAddress!;
    assert.match(address, /^127\.0\.0\.1:\d+$/);
    const before = await scrape(address);
    assert.equal(before.get('semail_smtp_messages_accepted_total{daemon="inbound"}'), 0);

    const send = (to: string) =>
      sendMessage(f.port, {
        from: "a@example.org",
        to: [to],
        data: simpleMessage({ from: "a@example.org", to, subject: "m" }),
      });
    for (let n = 0; n < 3; n++) assert.equal((await send("ada@semail.test")).code, 250);
    assert.equal((await send("nobody@semail.test")).code, 550);

    const after = await scrape(address);
    assert.equal(after.get('semail_smtp_messages_accepted_total{daemon="inbound"}'), 3);
    assert.equal(after.get('semail_smtp_connections_total{daemon="inbound"}'), 4);
    assert.equal(after.get('semail_smtp_refusals_total{stage="RCPT",code="550",enhanced="5.1.1",daemon="inbound"}'), 1);
    assert.equal(after.get('semail_store_commit_seconds_count{daemon="inbound"}'), 3);
    assert.ok((after.get('semail_smtp_accepted_bytes_total{daemon="inbound"}') ?? 0) > 3 * 50);
    assert.ok(after.has('semail_process_resident_memory_bytes{daemon="inbound"}'), "the process's own metrics too");

    const other = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://${address}/`]);
    assert.equal(other.stdout, "404");
  });

  it("outbound counts AUTH outcomes, deliveries by result and the queue", async (t) => {
    const dir = await tempDir(t, "semail-metrics-");
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const deliver: Deliver = async (job) => {
      await held;
      return job.recipients.map((recipient) => ({ recipient, status: "delivered" as const, response: "250 ok" }));
    };
    const settings = await daemonSettings(dir, { ldap: slapd.settings(), outbound: { metricsListen: "127.0.0.1:0" } });
    const daemon = await startDaemon(t, settings, { deliver });
    const address = daemon.metricsAddress!;

    const wrong = await SmtpClient.connect(daemon.port);
    t.after(() => wrong.close());
    await wrong.command("EHLO client.test");
    assert.equal((await wrong.command(`AUTH PLAIN ${plain("alice", "not her password")}`)).code, 535);

    const client = await SmtpClient.connect(daemon.port);
    t.after(() => client.close());
    await client.command("EHLO client.test");
    assert.equal((await client.command(`AUTH PLAIN ${plain("alice", alice.password)}`)).code, 235);
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    assert.equal((await client.command("RCPT TO:<someone@example.net>")).code, 250);
    const data = simpleMessage({ from: "alice@semail.test", to: "someone@example.net", subject: "hello" });
    assert.equal((await client.data(data)).code, 250);

    const queued = await scrape(address);
    assert.equal(queued.get('semail_smtp_auth_total{outcome="failed",daemon="outbound"}'), 1);
    assert.equal(queued.get('semail_smtp_auth_total{outcome="ok",daemon="outbound"}'), 1);
    assert.equal(queued.get('semail_relay_queue_messages{daemon="outbound"}'), 1);
    assert.ok((queued.get('semail_relay_queue_oldest_seconds{daemon="outbound"}') ?? -1) >= 0);

    release();
    await daemon.queue.idle();
    const done = await scrape(address);
    assert.equal(done.get('semail_relay_deliveries_total{result="delivered",daemon="outbound"}'), 1);
    assert.equal(done.get('semail_relay_queue_messages{daemon="outbound"}'), 0);
  });

  it("refuses a /tls metricsListen, and a port in use, naming the setting", async (t) => {
    assert.throws(
      () => parseSettings({ inbound: { metricsListen: "127.0.0.1:9101/tls" } }, "test"),
      /inbound\.metricsListen: is plain HTTP: drop the \/tls/,
    );
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    await assert.rejects(
      startFixture(t, { inbound: { metricsListen: `127.0.0.1:${port}` } }),
      /inbound\.metricsListen 127\.0\.0\.1:\d+: listen EADDRINUSE/,
    );
  });
});
