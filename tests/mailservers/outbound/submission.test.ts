// The submission policy against a real slapd: AUTH by binding as the user, MAIL FROM and
// the From: header only from one's own mailbox, nothing without AUTH, 454 when the
// directory hangs, and the message on disk when the 250 comes.
import assert from "node:assert/strict";
import { access, readFile } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { createSubmissionBackend } from "../../../mailservers/outbound/backend.ts";
import { networkSet } from "../../../mailservers/outbound/network-policy.ts";
import type { Deliver, DeliveryJob } from "../../../mailservers/outbound/relay/index.ts";
import { SmtpClient, simpleMessage } from "../../helpers/smtp.ts";
import { TEST_USERS, slapdForFile } from "../../helpers/slapd.ts";
import { daemonSettings, plain, startDaemon, USERS_YAML } from "./daemon-fixture.ts";
import { createDirectory } from "../../../directory/ldap.ts";
import { UsersList } from "../../../config/users-list.ts";
import { Spool } from "../../../mailservers/outbound/relay/index.ts";
import type { SessionInfo } from "../../../mailservers/core/types.ts";
import { until } from "../../../testkit/until.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const alice = TEST_USERS.find((u) => u.uid === "alice")!;
const bob = TEST_USERS.find((u) => u.uid === "bob")!;

const slapd = slapdForFile();

/** A sender that holds every delivery until released, so the spool can be looked at after the 250. */
function heldSender() {
  const jobs: DeliveryJob[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const deliver: Deliver = async (job) => {
    jobs.push(job);
    await released;
    return job.recipients.map((recipient) => ({ recipient, status: "delivered" as const, response: "250 ok" }));
  };
  return { jobs, deliver, release };
}

async function login(
  port: number,
  user: string,
  password: string,
): Promise<{ client: SmtpClient; code: number; text: string }> {
  const client = await SmtpClient.connect(port);
  await client.command("EHLO client.test");
  const reply = await client.command(`AUTH PLAIN ${plain(user, password)}`);
  return { client, code: reply.code, text: reply.text };
}

describe("submission", () => {
  it("AUTH binds as the user: right password 235, wrong or empty password 535", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: heldSender().deliver,
    });
    const good = await login(daemon.port, "alice", alice.password);
    good.client.close();
    assert.equal(good.code, 235, good.text);
    for (const [user, password] of [
      ["alice", "wrong"],
      ["alice", ""],
      ["nobody", "x"],
      ["alice)(uid=*", "x"],
    ] as const) {
      const bad = await login(daemon.port, user, password);
      bad.client.close();
      assert.equal(bad.code, 535, `${user}/${password}: ${bad.text}`);
      assert.match(bad.text, /^5\.7\.8 /);
    }
  });

  it("AUTH LOGIN works too", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: heldSender().deliver,
    });
    const client = await SmtpClient.connect(daemon.port);
    t.after(() => client.close());
    await client.command("EHLO client.test");
    assert.equal((await client.command("AUTH LOGIN")).code, 334);
    assert.equal((await client.command(Buffer.from("bob").toString("base64"))).code, 334);
    assert.equal((await client.command(Buffer.from(bob.password).toString("base64"))).code, 235);
  });

  it("refuses MAIL and RCPT without AUTH: 530 5.7.0", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: heldSender().deliver,
    });
    const client = await SmtpClient.connect(daemon.port);
    t.after(() => client.close());
    await client.command("EHLO client.test");
    const mail = await client.command("MAIL FROM:<alice@semail.test>");
    assert.equal(mail.code, 530);
    assert.match(mail.text, /^5\.7\.0 Authentication required/);
    // The backend says the same for RCPT, whatever the front end lets through.
    const session: SessionInfo = {
      id: "s",
      remoteAddress: "127.0.0.1",
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 2,
      clientHostname: "c",
      secure: false,
    };
    const backend = createSubmissionBackend({
      directory: createDirectory(slapd.settings()),
      users: () => new UsersList([]),
      spool: new Spool(dir),
      queue: { add: async () => {} },
      hostname: "h",
      trustedNetworks: networkSet([], "x"),
      logger: silentLogger(),
    });
    await assert.rejects(backend.checkRecipient("bob@example.net", session, [], undefined), {
      responseCode: 530,
      enhancedCode: "5.7.0",
    });
  });

  it("MAIL FROM must be the user's own mailbox (or alias): 553 5.7.1 otherwise, and never <>", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const users = USERS_YAML.replace("address: alice@semail.test}", "address: alice@semail.test, aliases: [hello]}");
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings(), users }), {
      deliver: heldSender().deliver,
    });
    const { client, code } = await login(daemon.port, "alice", alice.password);
    t.after(() => client.close());
    assert.equal(code, 235);
    for (const from of [
      "bob@bob.semail.test",
      "someone@example.net",
      "",
      "BOB@bob.semail.test",
      "bob+alice@bob.semail.test",
    ]) {
      const reply = await client.command(`MAIL FROM:<${from}>`);
      assert.equal(reply.code, 553, `${from}: ${reply.text}`);
      assert.match(reply.text, /^5\.7\.1 /);
    }
    assert.equal((await client.command("MAIL FROM:<alice@SEMAIL.TEST>")).code, 250, "the domain is case-insensitive");
    await client.command("RSET");
    assert.equal((await client.command("MAIL FROM:<Alice@semail.test>")).code, 250, "so is the local part, in ASCII");
    await client.command("RSET");
    assert.equal((await client.command("MAIL FROM:<alice+shop@semail.test>")).code, 250, "and her own sub-addresses");
    await client.command("RSET");
    assert.equal((await client.command("MAIL FROM:<Hello@semail.test>")).code, 250, "and her aliases");
  });

  it("a mailbox whose domain is not proven yet cannot send: 553 5.7.1 naming the missing proof", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const users = `${USERS_YAML}  - {owner: admin, address: carol@carol.example, pendingProof: 0123456789abcdef0123456789abcdef}\n`;
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings(), users }), {
      deliver: heldSender().deliver,
    });
    const { client, code } = await login(daemon.port, "admin", TEST_USERS.find((u) => u.uid === "admin")!.password);
    t.after(() => client.close());
    assert.equal(code, 235);
    const reply = await client.command("MAIL FROM:<carol@carol.example>");
    assert.equal(reply.code, 553, reply.text);
    assert.match(
      reply.text,
      /^5\.7\.1 Sender <carol@carol\.example> is not usable yet: admin has not proven control of carol\.example/,
    );
    // Another user's pending claim is just another's address.
    const other = await login(daemon.port, "alice", alice.password);
    t.after(() => other.client.close());
    assert.match(
      (await other.client.command("MAIL FROM:<carol@carol.example>")).text,
      /^5\.7\.1 Sender <carol@carol\.example> is not an address of alice$/,
    );
  });

  it("refuses recipients that could reroute mail (quoted local part, address literal)", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: heldSender().deliver,
    });
    const { client } = await login(daemon.port, "alice", alice.password);
    t.after(() => client.close());
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    for (const rcpt of ['"evil@attacker.example"@example.net', "bob@[192.0.2.1]", "bob@-bad-.example"]) {
      const reply = await client.command(`RCPT TO:<${rcpt}>`);
      assert.ok(reply.code >= 500, `${rcpt}: ${reply.code} ${reply.text}`);
    }
    assert.equal((await client.command("RCPT TO:<bob@example.net>")).code, 250);
  });

  it("answers 250 only with the message fsynced in the spool, and hands it to delivery", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const held = heldSender();
    t.after(() => held.release());
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: held.deliver,
    });
    const { client } = await login(daemon.port, "alice", alice.password);
    t.after(() => client.close());
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    assert.equal((await client.command("RCPT TO:<carol@example.net>")).code, 250);
    const body = simpleMessage({ from: "alice@semail.test", to: "carol@example.net", subject: "spooled" });
    const reply = await client.data(body);
    assert.equal(reply.code, 250, reply.text);
    const id = /queued as ([0-9A-Z]+)/.exec(reply.text)?.[1];
    assert.ok(id, reply.text);
    const record = await daemon.spool.read(id);
    await access(daemon.spool.fileOf(record));
    assert.equal(record.from, "alice@semail.test");
    assert.deepEqual(record.recipients, ["carol@example.net"]);
    assert.equal(record.user, "alice");
    const stored = (await readFile(daemon.spool.fileOf(record)))
      .subarray(record.offset, record.offset + record.size)
      .toString("latin1");
    assert.match(stored, /^Received: from client\.test \(\[127\.0\.0\.1\]\)[^\r]*\r\n\tby relay\.semail\.test /);
    assert.ok(stored.endsWith(`${body}\r\n`), "the message follows our Received header byte for byte");
    await until(() => held.jobs.length > 0, "the queue to take the job", 1000, 10);
    assert.equal(held.jobs[0]?.envelopeId, id);
    assert.equal(held.jobs[0]?.domain, "example.net");
  });
});

describe("the From: header", () => {
  /** alice logged in, MAIL FROM her own address and one recipient accepted. */
  async function aliceReady(t: TestContext, port: number): Promise<SmtpClient> {
    const { client } = await login(port, "alice", alice.password);
    t.after(() => client.close());
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    assert.equal((await client.command("RCPT TO:<carol@example.net>")).code, 250);
    return client;
  }

  it("a From: that is not the sender's own gets 550 5.7.1 naming it, nothing is spooled, and the session goes on", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const held = heldSender();
    t.after(() => held.release());
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: held.deliver,
    });
    const client = await aliceReady(t, daemon.port);
    const forged = await client.data(
      "From: CEO <ceo@gmail.com>\r\nTo: <carol@example.net>\r\nSubject: wire the money\r\n\r\nNow.\r\n",
    );
    assert.deepEqual(
      [forged.code, forged.text],
      [550, "5.7.1 From: address <ceo@gmail.com> is not an address of alice"],
    );
    const another = await aliceReady(t, daemon.port);
    const shown = await another.data('From: "ceo@gmail.com" <alice@semail.test>\r\nSubject: x\r\n\r\nx\r\n');
    assert.deepEqual(
      [shown.code, shown.text],
      [550, "5.7.1 From: header shows ceo@gmail.com, which is not an address of alice"],
    );
    assert.deepEqual(await daemon.spool.ids(), []);
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    assert.equal((await client.command("RCPT TO:<carol@example.net>")).code, 250);
    assert.equal(
      (await client.data(simpleMessage({ from: "alice@semail.test", to: "carol@example.net", subject: "own" }))).code,
      250,
    );
    assert.equal((await daemon.spool.ids()).length, 1);
  });

  it("a message without From: gets From: <MAIL FROM> added under our Received line", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const held = heldSender();
    t.after(() => held.release());
    const daemon = await startDaemon(t, await daemonSettings(dir, { ldap: slapd.settings() }), {
      deliver: held.deliver,
    });
    const client = await aliceReady(t, daemon.port);
    const reply = await client.data("To: <carol@example.net>\r\nSubject: no from\r\n\r\nhi\r\n");
    assert.equal(reply.code, 250, reply.text);
    const record = await daemon.spool.read(/queued as ([0-9A-Z]+)/.exec(reply.text)![1]!);
    const stored = (await readFile(daemon.spool.fileOf(record)))
      .subarray(record.offset, record.offset + record.size)
      .toString("latin1");
    assert.match(
      stored,
      /^Received: [^\r]*\r\n(?:\t[^\r]*\r\n)+From: <alice@semail\.test>\r\nTo: <carol@example\.net>\r\nSubject: no from\r\n\r\nhi\r\n$/,
    );
  });
});

describe("limits", () => {
  it("a message over outbound.maxMessageSize gets 552 and leaves nothing in the spool", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const held = heldSender();
    t.after(() => held.release());
    const daemon = await startDaemon(
      t,
      await daemonSettings(dir, { ldap: slapd.settings(), outbound: { maxMessageSize: "4KiB" } }),
      { deliver: held.deliver },
    );
    const { client } = await login(daemon.port, "alice", alice.password);
    t.after(() => client.close());
    assert.equal((await client.command("MAIL FROM:<alice@semail.test>")).code, 250);
    assert.equal((await client.command("RCPT TO:<carol@example.net>")).code, 250);
    const reply = await client.data(`Subject: big\r\n\r\n${"x".repeat(70)}\r\n`.repeat(100));
    assert.equal(reply.code, 552, reply.text);
    assert.deepEqual(await daemon.spool.ids(), []);
    const { readdir } = await import("node:fs/promises");
    assert.deepEqual(await readdir(daemon.spool.tmpDir), [], "no half-written file either");
    assert.equal(held.jobs.length, 0);
  });
});

describe("a hung directory", () => {
  it("gives 454 4.7.0 within the directory timeout, not a hang or a 535", async (t) => {
    const sockets = new Set<Socket>();
    const hung = createServer((s) => sockets.add(s.on("error", () => undefined)));
    await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      hung.close();
    });
    const port = (hung.address() as { port: number }).port;
    const dir = await tempDir(t, "semail-outbound-");
    const settings = await daemonSettings(dir, {
      ldap: slapd.settings({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 1000 }),
    });
    const daemon = await startDaemon(t, settings, { deliver: heldSender().deliver });
    const started = Date.now();
    const { client, code, text } = await login(daemon.port, "alice", alice.password);
    client.close();
    assert.equal(code, 454, text);
    assert.match(text, /^4\.7\.0 /);
    assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
  });

  it("the backend's own 10 s bound holds even if the directory never settles", async () => {
    const backend = createSubmissionBackend({
      directory: { authenticate: () => new Promise(() => {}), isAdmin: async () => false, close: async () => {} },
      users: () => new UsersList([]),
      spool: new Spool("/nonexistent"),
      queue: { add: async () => {} },
      hostname: "h",
      trustedNetworks: networkSet([], "x"),
      authTimeoutMs: 200,
      logger: silentLogger(),
    });
    const session: SessionInfo = {
      id: "s",
      remoteAddress: "127.0.0.1",
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 2,
      clientHostname: "c",
      secure: false,
    };
    await assert.rejects(backend.authenticate!("alice", "pw", session), { responseCode: 454, enhancedCode: "4.7.0" });
  });
});

describe("AUTH without TLS from a non-trusted address", () => {
  // Every test client is on loopback, which is always trusted; the rule is checked on the
  // backend with the session a container client would have.
  const session = (remoteAddress: string, secure: boolean): SessionInfo => ({
    id: "s",
    remoteAddress,
    remotePort: 1,
    localAddress: "10.88.0.1",
    localPort: 587,
    clientHostname: "c",
    secure,
  });
  const backend = (trusted: string[]) =>
    createSubmissionBackend({
      directory: createDirectory(slapd.settings()),
      users: () => new UsersList([]),
      spool: new Spool("/nonexistent"),
      queue: { add: async () => {} },
      hostname: "h",
      trustedNetworks: networkSet(trusted, "outbound.trustedNetworks"),
      logger: silentLogger(),
    });

  it("is refused with 538 5.7.11", async () => {
    await assert.rejects(backend([]).authenticate!("alice", alice.password, session("10.88.0.5", false)), {
      responseCode: 538,
      enhancedCode: "5.7.11",
    });
  });

  it("is allowed over TLS or from a trusted network", async () => {
    assert.equal(await backend([]).authenticate!("alice", alice.password, session("10.88.0.5", true)), "alice");
    assert.equal(
      await backend(["10.88.0.0/16"]).authenticate!("alice", alice.password, session("10.88.0.5", false)),
      "alice",
    );
  });
});

describe("password guessing", () => {
  it("gets 454 4.7.0 after too many failures from one address or against one account, until the window ends", async (t) => {
    const dir = await tempDir(t, "semail-outbound-");
    const settings = await daemonSettings(dir, {
      ldap: slapd.settings(),
      outbound: { authFailuresPerIp: 3, authFailuresPerAccount: 2, authFailureWindow: "15m" },
    });
    const daemon = await startDaemon(t, settings, { deliver: heldSender().deliver });
    for (let i = 0; i < 2; i++) {
      const { client, code } = await login(daemon.port, "bob", "wrong");
      client.close();
      assert.equal(code, 535);
    }
    // The account is locked now, even with the right password: guessing gains nothing.
    const locked = await login(daemon.port, "bob", bob.password);
    locked.client.close();
    assert.deepEqual([locked.code, locked.text], [454, "4.7.0 Too many failed logins; try again later"]);
    // A third failure (another account) closes this address too; alice's good password waits.
    const third = await login(daemon.port, "nobody", "x");
    third.client.close();
    assert.equal(third.code, 535);
    const blocked = await login(daemon.port, "alice", alice.password);
    blocked.client.close();
    assert.equal(blocked.code, 454);
  });

  it("the window ends on the clock", async () => {
    let now = 0;
    const session: SessionInfo = {
      id: "s",
      remoteAddress: "127.0.0.1",
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 2,
      clientHostname: "c",
      secure: false,
    };
    const backend = createSubmissionBackend({
      directory: createDirectory(slapd.settings()),
      users: () => new UsersList([]),
      spool: new Spool("/nonexistent"),
      queue: { add: async () => {} },
      hostname: "h",
      trustedNetworks: networkSet([], "x"),
      logger: silentLogger(),
      now: () => now,
      authFailures: { perIp: 1, perAccount: 1, windowMs: 60_000 },
    });
    assert.equal(await backend.authenticate!("alice", "wrong", session), undefined);
    await assert.rejects(backend.authenticate!("alice", alice.password, session), { responseCode: 454 });
    now = 60_000;
    assert.equal(await backend.authenticate!("alice", alice.password, session), "alice");
  });
});
