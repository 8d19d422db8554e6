// Submission through the daemon to remote SMTP servers found by a real named: content
// byte for byte, smuggling sequences, retries on the test's clock, and a bounce's DSN
// delivered back to the sender.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Directory } from "../../../config/directory.ts";
import { SmtpClient } from "../../helpers/smtp.ts";
import type { Target } from "../../helpers/target-smtp.ts";
import { APEX, startWorld, type World } from "./relay/delivery/fixture.ts";
import { daemonSettings, plain, startDaemon, type DaemonFixture } from "./daemon-fixture.ts";
import { ManualClock } from "./relay/manual-clock.ts";
import { dsnParts } from "./relay/queue/queue-fixtures.ts";
import { until } from "../../../testkit/until.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

let world: World;
before(async () => {
  world = await startWorld();
});
after(() => world?.close());

/** alice/pw only: the LDAP side is tested against slapd in submission.test.ts. */
const directory: Directory = {
  authenticate: async (uid, password) =>
    uid === "alice" && password === "pw" ? { ok: true, user: { uid, dn: `uid=${uid}` } } : { ok: false },
  isAdmin: async () => false,
  close: async () => {},
};

async function daemon(t: { after: (fn: () => Promise<void>) => void }, clock?: ManualClock): Promise<DaemonFixture> {
  const dir = await tempDir(t, "semail-outbound-");
  const settings = await daemonSettings(dir, {
    users: `mailboxes:\n  - {owner: alice, address: alice@plain.${APEX}}\n`,
    outbound: {
      retry: { delays: ["60s", "120s"], maxAge: "1h", delayNotice: 0 },
      delivery: {
        resolver: world.named.server,
        smtpPort: world.port,
        localAddresses: ["127.0.0.11"],
        connectTimeout: "2s",
        greetingTimeout: "5s",
        commandTimeout: "5s",
      },
    },
  });
  return startDaemon(t, settings, { directory, ...(clock ? { clock } : {}) });
}

/** Submits over SMTP as alice; returns the queue id. */
async function submit(port: number, to: readonly string[], data: string): Promise<string> {
  const client = await SmtpClient.connect(port);
  try {
    await client.command("EHLO client.test");
    assert.equal((await client.command(`AUTH PLAIN ${plain("alice", "pw")}`)).code, 235);
    assert.equal((await client.command(`MAIL FROM:<alice@plain.${APEX}>`)).code, 250);
    for (const rcpt of to) assert.equal((await client.command(`RCPT TO:<${rcpt}>`)).code, 250);
    const reply = await client.data(data);
    assert.equal(reply.code, 250, reply.text);
    return /queued as ([0-9A-Z]+)/.exec(reply.text)![1]!;
  } finally {
    client.close();
  }
}

const count = (target: Target, subject: string) =>
  target.messages.filter((m) => m.raw.toString("latin1").includes(`Subject: ${subject}\r\n`)).length;

describe("outbound delivery end to end", () => {
  it("delivers the submitted message byte for byte after our Received header", async (t) => {
    const d = await daemon(t);
    const body = `From: <alice@plain.${APEX}>\r\nTo: <bob@plain.${APEX}>\r\nSubject: bytes\r\nMessage-ID: <bytes@test>\r\n\r\nL\u00e9a line\r\n.leading dot\r\n\r\nend\r\n`;
    await submit(d.port, [`bob@plain.${APEX}`], body.replace(/^\./gm, ".."));
    await until(() => count(world.targets.a, "bytes") === 1, "delivery");
    const got = world.targets.a.messages.find((m) => m.raw.includes("Subject: bytes"))!;
    const raw = got.raw.toString("latin1");
    assert.match(
      raw,
      /^Received: from client\.test \(\[127\.0\.0\.1\]\)[^\r]*\r\n\tby relay\.semail\.test [^\r]*with ESMTPA id /,
    );
    // The test client writes latin1: the 8-bit byte must arrive unchanged, the dot unstuffed.
    assert.equal(raw.slice(raw.indexOf("From: ")), body);
    assert.equal(got.mailFrom, `alice@plain.${APEX}`);
    await until(() => d.queue.size === 0, "an empty queue");
  });

  it("a message carrying smuggling sequences arrives as exactly one message", async (t) => {
    const d = await daemon(t);
    const smuggled = "MAIL FROM:<ceo@victim.test>\nRCPT TO:<x@smuggle.t.test>\nDATA\nSubject: SMUGGLED\n\nforged\n";
    const body = [
      `From: <alice@plain.${APEX}>`,
      "Subject: carrier",
      "",
      `bare LF dot: \n.\n${smuggled}.\n`,
      `bare CR dot: \r.\r${smuggled.replaceAll("\n", "\r")}.\r`,
      `mixed: \r\n.\n${smuggled}.\r\n`.replace(/\r\n\.\r\n$/, "\r\n"),
      "end",
    ].join("\r\n");
    await submit(d.port, [`x@smuggle.${APEX}`], body);
    const lenient = world.targets.lenient;
    await until(() => lenient.messages.length >= 1, "delivery");
    await until(() => d.queue.size === 0, "an empty queue");
    assert.equal(lenient.messages.length, 1, `the lenient server saw ${lenient.messages.length} messages`);
    assert.match(lenient.messages[0]!.raw.toString("latin1"), /Subject: carrier/);
    assert.match(
      lenient.messages[0]!.raw.toString("latin1"),
      /Subject: SMUGGLED/,
      "the smuggled text stayed inside the one message",
    );
  });

  it("retries a server that answers 451 by the retry table, on the test's clock", async (t) => {
    const clock = new ManualClock(Date.now());
    const d = await daemon(t, clock);
    const temp = world.targets.temp;
    const before = temp.connections;
    await submit(d.port, [`x@temp-d.${APEX}`], `Subject: retried\r\n\r\nhi\r\n`);
    await until(() => temp.connections === before + 1, "first attempt");
    await d.queue.idle();
    clock.advance(59_000);
    await d.queue.idle();
    assert.equal(temp.connections, before + 1, "no retry before 60 s");
    clock.advance(1_000);
    await until(() => temp.connections === before + 2, "second attempt");
    await d.queue.idle();
    clock.advance(119_000);
    await d.queue.idle();
    assert.equal(temp.connections, before + 2, "then 120 s");
    assert.equal(count(temp, "retried"), 0);
    clock.advance(1_000);
    await until(() => count(temp, "retried") === 1, "third attempt delivers");
    await until(() => d.queue.size === 0, "an empty queue");
    assert.equal(temp.connections, before + 3);
  });

  it("a 550 comes back to the sender as a DSN from <>", async (t) => {
    const d = await daemon(t);
    const id = await submit(
      d.port,
      [`x@reject.${APEX}`],
      `From: <alice@plain.${APEX}>\r\nSubject: refused\r\nMessage-ID: <refused@test>\r\n\r\nhi\r\n`,
    );
    const a = world.targets.a;
    await until(() => a.messages.some((m) => m.mailFrom === "" && m.raw.includes(id)), "the DSN");
    const dsn = a.messages.find((m) => m.mailFrom === "" && m.raw.includes(id))!;
    assert.deepEqual(dsn.recipients, [`alice@plain.${APEX}`]);
    const { parsed, parts } = await dsnParts(dsn.raw.toString("utf8"));
    assert.equal(parsed.subject, "Undelivered Mail Returned to Sender");
    const report = parts.get("message/delivery-status") ?? "";
    assert.match(report, new RegExp(`^Final-Recipient: rfc822; x@reject\\.${APEX.replace(".", "\\.")}$`, "m"));
    assert.match(report, /^Action: failed$/m);
    assert.match(report, /^Status: 5\.7\.1$/m);
    assert.match(report, /^Diagnostic-Code: smtp; 550/m);
    assert.match(parts.get("text/rfc822-headers") ?? "", /^Message-ID: <refused@test>$/m);
    await until(() => d.queue.size === 0, "an empty queue");
  });
});
