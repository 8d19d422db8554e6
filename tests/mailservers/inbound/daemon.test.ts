// The inbound daemon end to end: real sockets, real mbox files, read back with Python's
// mailbox module.
import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { createTransport } from "nodemailer";
import { SmtpClient, sendMessage, simpleMessage } from "../../helpers/smtp.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { USERS, provision, readMbox, startFixture, usersYaml } from "./fixture.ts";
import { until } from "../../../testkit/until.ts";

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** Every file under `dir`, relative. */
/** Files under the mail root, without the empty INBOX and marker each provisioned mailbox starts with. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const stored = [];
  for (const e of entries) {
    const name = path.relative(dir, path.join(e.parentPath, e.name));
    if (
      e.isFile() &&
      !(/^[^/]+\/(INBOX|\.semail-mailbox)$/.test(name) && (await stat(path.join(dir, name))).size === 0)
    )
      stored.push(name);
  }
  return stored.sort();
}

const header = (message: { headers: [string, string][] }, name: string) =>
  message.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

describe("semail inbound", () => {
  it("stores a message from nodemailer in INBOX and the (recipient, sender) folder, readable by Python", async (t) => {
    const f = await startFixture(t);
    const transport = createTransport({
      host: "127.0.0.1",
      port: f.port,
      secure: false,
      ignoreTLS: true,
      name: "client.example",
    });
    const info = await transport.sendMail({
      envelope: { from: "alice@example.org", to: ["souleymane@SOW.semail.test"] },
      from: "Alice <alice@example.org>",
      to: "souleymane@sow.semail.test",
      subject: "Bonjour",
      text: "Line one\nFrom the start of a line\n.\n..dots\n",
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: stored as /);
    for (const file of [f.inbox("sow"), f.folder("sow", "souleymane@sow.semail.test", "alice@example.org")]) {
      const [message, ...rest] = await readMbox(file);
      assert.equal(rest.length, 0, file);
      assert.equal(message!.subject, "Bonjour");
      assert.match(message!.from_line, /^alice@example\.org /);
      assert.deepEqual(header(message!, "Return-Path"), ["<alice@example.org>"]);
      assert.deepEqual(header(message!, "Delivered-To"), ["souleymane@sow.semail.test"]);
      assert.match(
        header(message!, "Received")[0]!,
        /^from client\.example \(\[127\.0\.0\.1\]\)\s+by mx\.semail\.test \(SEMail\) with ESMTP id /,
      );
      assert.match(message!.body, /Line one\n>?From the start of a line\n\.\n\.\.dots\n/);
    }
  });

  it("delivers an alias into its mailbox's INBOX, named in Delivered-To and the pair folder, and a tag on it too", async (t) => {
    const users = [
      ...USERS.filter((u) => u.owner !== "ada"),
      { owner: "ada", address: "ada@semail.test", aliases: ["sales"] },
    ];
    const f = await startFixture(t, { users });
    for (const to of ["Sales@semail.test", "sales+q4@semail.test"]) {
      const data = simpleMessage({ from: "buyer@example.org", to, subject: to });
      assert.equal((await sendMessage(f.port, { from: "buyer@example.org", to: [to], data })).code, 250, to);
    }
    const inbox = await readMbox(f.inbox("ada"));
    assert.deepEqual(
      inbox.map((m) => header(m, "Delivered-To")[0]),
      ["sales@semail.test", "sales+q4@semail.test"],
    );
    assert.equal((await readMbox(f.folder("ada", "sales@semail.test", "buyer@example.org"))).length, 1);
    const refused = await sendMessage(f.port, {
      from: "buyer@example.org",
      to: ["info@semail.test"],
      data: simpleMessage({ from: "buyer@example.org", to: "info@semail.test", subject: "x" }),
    });
    assert.equal(refused.code, 550);
  });

  it("delivers id+tag@ into id's INBOX, its Delivered-To and pair folder keeping the tag", async (t) => {
    const f = await startFixture(t);
    const reply = await sendMessage(f.port, {
      from: "shop@example.org",
      to: ["ada+Shop@semail.test"],
      data: simpleMessage({ from: "shop@example.org", to: "ada+Shop@semail.test", subject: "receipt" }),
    });
    assert.equal(reply.code, 250, reply.text);
    const [message, ...rest] = await readMbox(f.inbox("ada"));
    assert.equal(rest.length, 0);
    assert.deepEqual(header(message!, "Delivered-To"), ["ada+Shop@semail.test"]);
    assert.equal((await readMbox(f.folder("ada", "ada+Shop@semail.test", "shop@example.org")))[0]?.subject, "receipt");
  });

  it("delivers one transaction to several mailboxes and to postmaster@/abuse@ of a listed domain and a bare <Postmaster> (raw socket)", async (t) => {
    const f = await startFixture(t);
    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    assert.equal((await c.command("EHLO client.example")).code, 250);
    assert.equal((await c.command("MAIL FROM:<>")).code, 250);
    for (const to of [
      "ada@semail.test",
      "souleymane@sow.semail.test",
      "PostMaster@External.example",
      "abuse@sow.semail.test",
      "Postmaster",
    ]) {
      assert.equal((await c.command(`RCPT TO:<${to}>`)).code, 250, to);
    }
    const reply = await c.data(
      simpleMessage({ from: "mailer-daemon@example.org", to: "ada@semail.test", subject: "bounce" }),
    );
    assert.equal(reply.code, 250);
    assert.equal((await readMbox(f.inbox("ada"))).length, 1);
    assert.equal((await readMbox(f.inbox("sow"))).length, 1);
    // One copy per mailbox, even when two role addresses share it.
    const admin = await readMbox(f.inbox("postmaster"));
    assert.deepEqual(
      admin.map((m) => header(m, "Delivered-To")[0]),
      ["postmaster@external.example"],
    );
    assert.ok(await exists(f.folder("postmaster", "postmaster@external.example", "")));
    assert.deepEqual(header(admin[0]!, "Return-Path"), ["<>"]);
  });

  it("refuses unknown users, relaying, VRFY and EXPN, and stores nothing for them", async (t) => {
    const f = await startFixture(t);
    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    await c.command("EHLO client.example");
    assert.equal((await c.command("VRFY ada")).code, 502);
    assert.equal((await c.command("EXPN staff")).code, 502);
    await c.command("MAIL FROM:<spammer@example.org>");
    const unknown = await c.command("RCPT TO:<nobody@semail.test>");
    assert.deepEqual([unknown.code, unknown.text.slice(0, 5)], [550, "5.1.1"]);
    const relay = await c.command("RCPT TO:<victim@gmail.com>");
    assert.deepEqual([relay.code, relay.text.slice(0, 5)], [550, "5.7.1"]);
    const relay2 = await c.command("RCPT TO:<ada@semail.test@gmail.com>");
    assert.ok(relay2.code >= 500, "source-route-ish address refused");
    assert.equal((await c.command("DATA")).code, 503);
    assert.deepEqual(await files(f.mailRoot).then((l) => l.filter((p) => !p.startsWith(".tmp"))), []);
  });

  it("refuses an oversize message with 552 5.3.4 and keeps nothing", async (t) => {
    const f = await startFixture(t, { inbound: { maxMessageSize: 20_000 } });
    const body = `${"z".repeat(900)}\r\n`.repeat(30);
    const reply = await sendMessage(f.port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: simpleMessage({ from: "a@example.org", to: "ada@semail.test", subject: "big", body }),
    });
    assert.deepEqual([reply.code, reply.text.slice(0, 5)], [552, "5.3.4"]);
    const inbox = f.inbox("ada");
    assert.ok(!(await exists(inbox)) || (await stat(inbox)).size === 0, "INBOX must hold nothing");
    const ok = await sendMessage(f.port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: simpleMessage({ from: "a@example.org", to: "ada@semail.test", subject: "small" }),
    });
    assert.equal(ok.code, 250);
    assert.deepEqual(
      (await readMbox(inbox)).map((m) => m.subject),
      ["small"],
    );
  });

  it("applies quotas: 452 4.2.2 for a full mailbox at RCPT, 552 5.2.2 for a declared size, and one full mailbox never fails the others", async (t) => {
    const f = await startFixture(t, {
      users: [
        ...USERS,
        { owner: "tiny", address: "tiny@semail.test", size: 20_000 },
        { owner: "small", address: "small@semail.test", size: 50_000 },
      ],
    });
    const message = (subject: string) =>
      simpleMessage({
        from: "a@example.org",
        to: "tiny@semail.test",
        subject,
        body: `${"q".repeat(70)}\r\n`.repeat(56),
      });
    assert.equal(
      (await sendMessage(f.port, { from: "a@example.org", to: ["tiny@semail.test"], data: message("1") })).code,
      250,
    );
    assert.equal(
      (await sendMessage(f.port, { from: "a@example.org", to: ["tiny@semail.test"], data: message("2") })).code,
      250,
    );
    const alone = await sendMessage(f.port, { from: "a@example.org", to: ["tiny@semail.test"], data: message("3") });
    assert.deepEqual([alone.code, alone.text.slice(0, 5)], [552, "5.2.2"], "the only recipient would go over");
    // With another recipient the message is stored for both (grace), so nothing is lost.
    assert.equal(
      (
        await sendMessage(f.port, {
          from: "a@example.org",
          to: ["tiny@semail.test", "ada@semail.test"],
          data: message("4"),
        })
      ).code,
      250,
    );
    assert.deepEqual(
      (await readMbox(f.inbox("tiny"))).map((m) => m.subject),
      ["1", "2", "4"],
    );
    assert.deepEqual(
      (await readMbox(f.inbox("ada"))).map((m) => m.subject),
      ["4"],
    );

    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    await c.command("EHLO client.example");
    await c.command("MAIL FROM:<a@example.org> SIZE=60000");
    const full = await c.command("RCPT TO:<tiny@semail.test>");
    assert.deepEqual([full.code, full.text.slice(0, 5)], [452, "4.2.2"]);
    const tooBig = await c.command("RCPT TO:<small@semail.test>");
    assert.deepEqual([tooBig.code, tooBig.text.slice(0, 5)], [552, "5.2.2"]);
    assert.equal((await c.command("RCPT TO:<ada@semail.test>")).code, 250);
  });

  it("answers 452 4.3.1 at MAIL when the mail root's disk is nearly full", async (t) => {
    let free = 1024 ** 3 + 100_000;
    let now = Date.now();
    const f = await startFixture(t, {
      freeSpace: async () => free,
      clock: () => now,
      inbound: { minFreeSpace: "1GiB" },
    });
    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    await c.command("EHLO client.example");
    assert.equal((await c.command("MAIL FROM:<a@example.org> SIZE=90000")).code, 250);
    await c.command("RSET");
    const big = await c.command("MAIL FROM:<a@example.org> SIZE=200000");
    assert.deepEqual([big.code, big.text.slice(0, 5)], [452, "4.3.1"], "a declared size that would eat the reserve");
    free = 512 * 1024 ** 2;
    now += 1001; // past the second the free-space figure is cached for
    const full = await c.command("MAIL FROM:<a@example.org>");
    assert.deepEqual([full.code, full.text.slice(0, 5)], [452, "4.3.1"]);
  });

  it("turns hostile senders into safe, distinct folder names that Python can read", async (t) => {
    const f = await startFixture(t);
    // smtp-server itself refuses some shapes (a leading dot, "..") with 501: fine, nothing stored.
    for (const from of ["../../etc/passwd@x.example", "a..b@example.org"]) {
      const refused = await sendMessage(f.port, { from, to: ["ada@semail.test"], data: "Subject: x\r\n\r\nx\r\n" });
      assert.deepEqual([refused.code, refused.text.slice(0, 5)], [501, "5.5.4"], from);
    }
    const senders = [
      '"/etc/passwd"@x.example',
      "etc/passwd@example.org",
      `${"l".repeat(240)}@example.org`,
      '"quoted"name"@example.org',
      "comma,sep=3d@example.org",
      "UPPER.lock@Example.org",
    ];
    for (const from of senders) {
      const reply = await sendMessage(f.port, {
        from,
        to: ["ada@semail.test"],
        data: simpleMessage({ from: "x@example.org", to: "ada@semail.test", subject: from }),
      });
      assert.equal(reply.code, 250, from);
    }
    // Unicode needs SMTPUTF8; NUL and other controls are refused outright.
    const c = await SmtpClient.connect(f.port);
    t.after(() => c.close());
    await c.command("EHLO client.example");
    // As UTF-8 bytes: the helper's command() writes latin1, which is invalid UTF-8 (553).
    c.write(Buffer.from("MAIL FROM:<jösé@exämple.org> SMTPUTF8\r\n", "utf8"));
    const utf8 = await c.read();
    assert.equal(utf8.code, 250);
    assert.equal((await c.command("RCPT TO:<ada@semail.test>")).code, 250);
    assert.equal(
      (await c.data(simpleMessage({ from: "j@example.org", to: "ada@semail.test", subject: "unicode" }))).code,
      250,
    );
    c.write("MAIL FROM:<nul\0byte@example.org>\r\n");
    assert.ok((await c.read()).code >= 500, "a NUL in the sender is refused");

    const stored = await files(f.mailRoot);
    const folders = stored.filter((p) => p.startsWith("ada/mail/"));
    assert.equal(folders.length, senders.length + 1);
    for (const file of folders) {
      const name = path.basename(file);
      assert.ok(
        !name.includes("..") && !name.startsWith(".") && Buffer.byteLength(name) <= 200 && !/[\0-\x1f/A-Z]/.test(name),
        name,
      );
      assert.equal((await readMbox(path.join(f.mailRoot, file))).length, 1, file);
    }
    assert.deepEqual(
      stored.filter((p) => !p.startsWith("ada/") && !p.startsWith(".tmp/")),
      [],
    );
    assert.equal((await readMbox(f.inbox("ada"))).length, senders.length + 1);
  });

  it("reloads the users list when the file changes and on reload (SIGHUP), keeping the last good list", async (t) => {
    const f = await startFixture(t);
    const rcpt = async (to: string) => {
      const c = await SmtpClient.connect(f.port);
      try {
        await c.command("EHLO client.example");
        await c.command("MAIL FROM:<a@example.org>");
        return (await c.command(`RCPT TO:<${to}>`)).code;
      } finally {
        c.close();
      }
    };
    assert.equal(await rcpt("new@semail.test"), 550);
    const newbie = { owner: "newbie", address: "new@semail.test" };
    await provision(f.mailRoot, [newbie]);
    await writeFile(f.usersFile, usersYaml([...USERS, newbie]));
    await until(async () => (await rcpt("new@semail.test")) === 250, "the new user to be accepted");
    await writeFile(f.usersFile, "mailboxes: [ {owner: 'Bad Owner!'} ]\n");
    await f.daemon.reload();
    assert.equal(await rcpt("new@semail.test"), 250, "an invalid file keeps the last good list");
    await writeFile(f.usersFile, usersYaml(USERS));
    await f.daemon.reload();
    assert.equal(await rcpt("new@semail.test"), 550);
    assert.match(await readFile(f.usersFile, "utf8"), /souleymane/);
  });

  it("answers 550 5.1.1 for a deleted mailbox's address, on a subdomain of the managed domain and on an external domain", async (t) => {
    const f = await startFixture(t);
    const rcpt = async (to: string) => {
      const c = await SmtpClient.connect(f.port);
      try {
        await c.command("EHLO client.example");
        await c.command("MAIL FROM:<a@example.org>");
        const reply = await c.command(`RCPT TO:<${to}>`);
        return `${reply.code} ${reply.text.slice(0, 5)}`;
      } finally {
        c.close();
      }
    };
    assert.match(await rcpt("me@external.example"), /^250 /);
    // sow and ext delete their mailboxes: the list has only ada's now.
    await writeFile(f.usersFile, usersYaml(USERS.filter((u) => u.owner === "ada")));
    await f.daemon.reload();
    assert.equal(await rcpt("souleymane@sow.semail.test"), "550 5.1.1", "a managed subdomain: the user is unknown");
    assert.equal(
      await rcpt("me@external.example"),
      "550 5.1.1",
      "an external domain whose mailbox was just deleted: the user is unknown",
    );
    assert.equal(
      await rcpt("someone@never-here.example"),
      "550 5.7.1",
      "a domain that was never ours is still not relayed to",
    );
  });

  it("offers STARTTLS on plain listeners and implicit TLS on /tls ones with the configured certificate", async (t) => {
    const cert = await selfSignedCertificate();
    t.after(() => cert.cleanup());
    const f = await startFixture(t, {
      inbound: { listen: ["127.0.0.1:0", "127.0.0.1:0/tls"] },
      settings: { tls: { cert: cert.certFile, key: cert.keyFile } },
    });
    const [plain, implicit] = f.daemon.addresses;
    const transport = createTransport({
      host: "127.0.0.1",
      port: plain!.boundPort,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
    });
    await transport.sendMail({
      envelope: { from: "a@example.org", to: ["ada@semail.test"] },
      raw: "Subject: starttls\r\n\r\nx\r\n",
    });
    transport.close();
    const secure = createTransport({
      host: "127.0.0.1",
      port: implicit!.boundPort,
      secure: true,
      tls: { rejectUnauthorized: false },
    });
    await secure.sendMail({
      envelope: { from: "a@example.org", to: ["ada@semail.test"] },
      raw: "Subject: implicit\r\n\r\nx\r\n",
    });
    secure.close();
    const messages = await readMbox(f.inbox("ada"));
    assert.deepEqual(
      messages.map((m) => m.subject),
      ["starttls", "implicit"],
    );
    for (const m of messages) assert.match(header(m, "Received")[0]!, /with ESMTPS id/);
  });
});
