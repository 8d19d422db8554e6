// The day's traffic from the daemons' own log lines, against real daemons: inbound takes mail
// for its users and refuses an unknown user, a relay attempt and a message too big; outbound
// takes three submissions and refuses a wrong password, then delivers one to a loopback
// server, is deferred by one that answers 451 and bounced by one that answers 550 (its DSN is
// delivered back). The summary counts exactly those, and nothing before its window; `semail
// report --summary --mail` prints the table and stores it in the admin mailbox.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { pino } from "pino";
import { stringify } from "yaml";
import type { Directory } from "../../../../config/directory.ts";
import { parseSettings } from "../../../../config/settings.ts";
import { createLogger } from "../../../../lib/logger.ts";
import { startInbound } from "../../../../mailservers/inbound/daemon.ts";
import { startOutbound } from "../../../../mailservers/outbound/daemon.ts";
import { logLines } from "../../../../services/report/traffic/log-lines.ts";
import { summarizeTraffic, trafficText } from "../../../../services/report/traffic/traffic-summary.ts";
import { readMbox } from "../../../mailservers/inbound/fixture.ts";
import { provisionRoot } from "../../../mailservers/inbound/store/fixture.ts";
import { plain } from "../../../mailservers/outbound/daemon-fixture.ts";
import { APEX, startWorld, type World } from "../../../mailservers/outbound/relay/delivery/fixture.ts";
import { SmtpClient, sendMessage } from "../../../helpers/smtp.ts";
import { repoPath } from "../../../../testkit/repo-path.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";
import { until } from "../../../../testkit/until.ts";

const run = promisify(execFile);

let world: World;
before(async () => {
  world = await startWorld();
});
after(() => world?.close());

/** alice/pw only: the directory's LDAP side is tested against slapd elsewhere. */
const directory: Directory = {
  authenticate: async (uid, password) =>
    uid === "alice" && password === "pw" ? { ok: true, user: { uid, dn: `uid=${uid}` } } : { ok: false },
  isAdmin: async () => false,
  close: async () => {},
};

const ALICE = `alice@plain.${APEX}`;
const FRIEND = `friend@plain.${APEX}`;

/** Submits one message to outbound as alice. */
async function submit(port: number, to: string): Promise<void> {
  const client = await SmtpClient.connect(port);
  try {
    await client.command("EHLO client.test");
    assert.equal((await client.command(`AUTH PLAIN ${plain("alice", "pw")}`)).code, 235);
    assert.equal((await client.command(`MAIL FROM:<${ALICE}>`)).code, 250);
    assert.equal((await client.command(`RCPT TO:<${to}>`)).code, 250);
    const reply = await client.data(`From: <${ALICE}>\r\nTo: <${to}>\r\nSubject: to ${to}\r\n\r\nHello.\r\n`);
    assert.equal(reply.code, 250, reply.text);
  } finally {
    client.close();
  }
}

test("the summary counts what the daemons logged, and --mail stores it for the postmaster", async (t) => {
  const dir = await tempDir(t, "semail-traffic-");
  const logs = { inbound: path.join(dir, "inbound.log"), outbound: path.join(dir, "outbound.log") };
  const raw = {
    hostname: "mx.semail.test",
    managedDomain: "semail.test",
    users: path.join(dir, "users.yaml"),
    minMailboxSize: 1,
    // Nothing listens there: the report's directory check fails, the rest goes on.
    ldap: { url: "ldap://127.0.0.1:9" },
    inbound: {
      listen: ["127.0.0.1:0"],
      mailRoot: path.join(dir, "mail"),
      maxMessageSize: 64 * 1024,
      resolver: world.named.server,
    },
    outbound: {
      listen: ["127.0.0.1:0"],
      spool: path.join(dir, "spool"),
      retry: { delays: ["1h"], maxAge: "1d", delayNotice: 0 },
      delivery: {
        resolver: world.named.server,
        smtpPort: world.port,
        localAddresses: ["127.0.0.11"],
        connectTimeout: "2s",
        greetingTimeout: "5s",
        commandTimeout: "5s",
      },
    },
    log: { level: "info" },
  };
  await writeFile(
    raw.users,
    `mailboxes:\n  - {owner: ada, address: ada@semail.test}\n  - {owner: alice, address: ${ALICE}}\n`,
  );
  for (const owner of ["ada", "alice"]) await provisionRoot(raw.inbound.mailRoot, owner);
  const settings = parseSettings(raw, "test");
  // As in the containers: each daemon's logger named semail-<daemon>, here into a file each.
  const logger = (name: keyof typeof logs) =>
    createLogger("info", `semail-${name}`, pino.destination({ dest: logs[name], sync: true }));
  const before = new Date();
  const inbound = await startInbound(settings, { logger: logger("inbound"), limits: { closeTimeoutMs: 200 } });
  t.after(() => inbound.stop());
  const outbound = await startOutbound(settings, {
    logger: logger("outbound"),
    directory,
    limits: { closeTimeoutMs: 200 },
  });
  t.after(() => outbound.stop());
  const inPort = inbound.addresses[0]!.boundPort;
  const outPort = outbound.addresses[0]!.boundPort;

  const data = (subject: string, body = "Hello.") =>
    `From: <${FRIEND}>\r\nTo: <ada@semail.test>\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
  for (const subject of ["one", "two"])
    assert.equal((await sendMessage(inPort, { from: FRIEND, to: ["ada@semail.test"], data: data(subject) })).code, 250);
  const unknown = await sendMessage(inPort, { from: FRIEND, to: ["nobody@semail.test"], data: data("x") });
  assert.equal(unknown.code, 550);
  const relay = await sendMessage(inPort, { from: FRIEND, to: ["someone@elsewhere.example"], data: data("x") });
  assert.equal(relay.code, 550);
  const big = await sendMessage(inPort, {
    from: FRIEND,
    to: ["ada@semail.test"],
    data: data("big", `${"x".repeat(998)}\r\n`.repeat(100)),
  });
  assert.equal(big.code, 552);

  const wrong = await SmtpClient.connect(outPort);
  await wrong.command("EHLO client.test");
  assert.equal((await wrong.command(`AUTH PLAIN ${plain("alice", "wrong")}`)).code, 535);
  wrong.close();
  await submit(outPort, `bob@plain.${APEX}`);
  await submit(outPort, `x@reject.${APEX}`);
  await submit(outPort, `x@temp-d.${APEX}`);
  // bob's message and the DSN of the rejected one reach the accepting server; the 451 server is tried once.
  await until(() => world.targets.a.messages.length === 2, "two deliveries");
  await until(() => world.targets.temp.connections === 1, "the attempt that is deferred");
  await outbound.queue.idle();

  const now = new Date();
  const summary = await summarizeTraffic(logLines([logs.inbound, logs.outbound], before), before, now);
  assert.deepEqual(summary, {
    since: before.toISOString(),
    until: now.toISOString(),
    received: 2,
    submitted: 3,
    refused: [
      { reason: "535 auth failure", count: 1 },
      { reason: "550 relay denied", count: 1 },
      { reason: "550 unknown user", count: 1 },
      { reason: "552 too big", count: 1 },
    ],
    delivered: 2,
    deferred: [{ reason: "Try again later", count: 1 }],
    bounced: [{ reason: "Message refused by policy", count: 1 }],
    topSenders: [
      { reason: ALICE, count: 3 },
      { reason: FRIEND, count: 2 },
    ],
    topRecipientDomains: [{ reason: `plain.${APEX}`, count: 2 }],
  });
  // The window holds: nothing happened before the daemons started.
  const earlier = await summarizeTraffic(logLines([logs.inbound, logs.outbound], new Date(0)), new Date(0), before);
  assert.equal(earlier.received + earlier.submitted + earlier.delivered + earlier.refused.length, 0);

  const config = path.join(dir, "semail.yaml");
  await writeFile(config, stringify(raw));
  const report = await run(
    process.execPath,
    [
      repoPath("bin/semail.mjs"),
      "report",
      "--config",
      config,
      "--summary",
      "--log",
      logs.inbound,
      "--log",
      logs.outbound,
      "--mail",
    ],
    { encoding: "utf8" },
  ).catch((err: { code: number; stdout: string; stderr: string }) => err);
  // The directory is down: a FAIL, so exit 1; the report comes out whole all the same.
  assert.equal("code" in report ? report.code : 0, 1, report.stderr);
  assert.match(report.stdout, /FAIL directory:/);
  const table = /Traffic from [^\n]*\n[\s\S]*$/.exec(report.stdout)![0];
  assert.match(table, /^ +2 {2}received from the Internet$/m);
  assert.match(table, /^ +1 {2}550 unknown user$/m);
  assert.equal(table.slice(table.indexOf("\n")), trafficText(summary).slice(trafficText(summary).indexOf("\n")));

  const stored = await readMbox(path.join(raw.inbound.mailRoot, "postmaster", "INBOX"));
  assert.equal(stored.length, 1);
  assert.match(
    stored[0]!.subject!,
    /^SEMail report mx\.semail\.test \d{4}-\d\d-\d\d: FAIL \(\d+ FAIL[^)]*; 2 received, 3 submitted, 4 refused, 2 delivered, 1 deferred, 1 bounced\)$/,
  );
  assert.ok(stored[0]!.body.includes("      1  552 too big"), stored[0]!.body);
  assert.ok(stored[0]!.body.includes("FAIL directory:"), stored[0]!.body);
});
