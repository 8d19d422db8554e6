// Thunderbird's view of local mode: `semail start` runs, alice has a mailbox; her mail
// program fetches the autoconfig for her address from the web form, reads it with a real
// XML parser, and then every server it names must answer on that port with that protocol
// and TLS (the local certificate checked, for 127.0.0.1) and take her address and password:
// IMAP over TLS and with STARTTLS, POP3 over TLS, SMTP submission over TLS and with STARTTLS,
// AUTH offered only once TLS is up. The local named's SRV records name the same ports.
// Sending as Thunderbird would: over each outgoing server (the inbound daemon's submission
// listeners, 587's and 465's roles) alice's message to bob reaches his INBOX through the
// outbound daemon and back in through the inbound daemon's MX port, which offers no AUTH.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { parseAutoconfig, type AutoconfigServer } from "../webform/autoconfig-xml.ts";
import { readMbox } from "../mailservers/inbound/store/fixture.ts";
import { startLocal, writeLocalSettings } from "./local-process.ts";
import { untilValue } from "../../testkit/until.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const ALICE = "alice@alice.semail.test";
const BOB = "bob@bob.semail.test";

/** What a mail program does with each server: TLS as said (the certificate checked), the greeting, AUTH only after TLS, the login. */
const CHECK = `
import email.message, imaplib, json, os, poplib, smtplib, ssl, sys
servers = json.loads(os.environ["SERVERS"]); user = os.environ["LOGIN"]; password = os.environ["PASSWORD"]
send_to = os.environ.get("SEND_TO")
ctx = ssl.create_default_context(cafile=os.environ["CA"])
def key(s):
    return "%s %s:%d %s" % (s["type"], s["hostname"], s["port"], s["socketType"])
def imap(s):
    if s["socketType"] == "SSL":
        m = imaplib.IMAP4_SSL(s["hostname"], s["port"], ssl_context=ctx, timeout=30)
    else:
        m = imaplib.IMAP4(s["hostname"], s["port"], timeout=30)
        assert "STARTTLS" in m.capabilities, m.capabilities
        m.starttls(ssl_context=ctx)
    greeting = m.welcome.decode()
    m.login(user, password); m.select("INBOX", readonly=True); m.logout()
    return greeting
def pop3(s):
    p = poplib.POP3_SSL(s["hostname"], s["port"], context=ctx, timeout=30)
    greeting = p.getwelcome().decode()
    p.user(user); p.pass_(password); p.stat(); p.quit()
    return greeting
def smtp(s):
    if s["socketType"] == "SSL":
        c = smtplib.SMTP_SSL(s["hostname"], s["port"], context=ctx, timeout=30)
        code, greeting = c.ehlo()
    else:
        c = smtplib.SMTP(s["hostname"], s["port"], timeout=30)
        c.ehlo()
        assert c.has_extn("starttls"), "no STARTTLS offered"
        assert not c.has_extn("auth"), "AUTH offered before TLS"
        c.starttls(context=ctx)
        code, greeting = c.ehlo()
    assert c.has_extn("auth"), "no AUTH after TLS: " + greeting.decode()
    c.login(user, password)
    if send_to:
        m = email.message.EmailMessage()
        m["From"] = user; m["To"] = send_to; m["Subject"] = "via " + key(s)
        m.set_content("Sent as a mail program sends.\\n")
        refused = c.send_message(m, user, [send_to])
        assert not refused, refused
    c.quit()
    return greeting.decode().split("\\n")[0]
out = {}
for s in servers:
    try:
        out[key(s)] = {"imap": imap, "pop3": pop3, "smtp": smtp}[s["type"]](s)
    except Exception as e:
        out[key(s)] = "FAILED: %s: %s" % (type(e).__name__, e)
print(json.dumps(out))
`;

/** An MX port as a mail program would try it: AUTH listed neither before nor after STARTTLS, and refused when sent anyway. */
const NO_AUTH = `
import base64, json, os, smtplib, ssl
ctx = ssl.create_default_context(cafile=os.environ["CA"])
c = smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), timeout=30)
c.ehlo(); before = c.has_extn("auth"); starttls = c.has_extn("starttls")
if starttls:
    c.starttls(context=ctx); c.ehlo()
after = c.has_extn("auth")
code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(("\\0%s\\0%s" % (os.environ["LOGIN"], os.environ["PASSWORD"])).encode()).decode())
c.quit()
print(json.dumps({"before": before, "starttls": starttls, "after": after, "auth": [code, text.decode()]}))
`;

test("Thunderbird's view: every server autoconfig names answers there, with TLS, and takes alice's address as her login", {
  skip: needsRoot,
  timeout: 300_000,
}, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "semail-mail-programs-"));
  const ports = await writeLocalSettings(dataDir);
  await writeFile(
    join(dataDir, "users.yaml"),
    `mailboxes:\n  - owner: alice\n    address: ${ALICE}\n  - owner: bob\n    address: ${BOB}\n`,
  );
  const local = await startLocal(dataDir, { noImages: true }).catch(async (err: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  });
  // Ctrl-C, which stops slapd, named, Dovecot and PHP with it (SIGKILL alone would leave them running); then the data.
  t.after(async () => {
    // The timer is not ref'd: once semail start has stopped it must not hold the test for a minute.
    const stopped = await Promise.race([local.interrupt(), sleep(60_000, "timeout", { ref: false })]);
    if (stopped === "timeout") await local.kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${ports.web}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(ALICE)}`;
  assert.ok(
    local
      .output()
      .includes(
        `autoconfig      http://127.0.0.1:${ports.web}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${ALICE}`,
      ),
    "the banner names the autoconfig URL",
  );

  const reply = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  assert.equal(reply.status, 200);
  const config = await parseAutoconfig(await reply.text());
  const named = (servers: readonly AutoconfigServer[]) =>
    servers.map((s) => `${s.type} ${s.hostname}:${s.port} ${s.socketType}`);
  const ca = join(dataDir, "tls", "cert.pem");
  /** Runs CHECK over `servers` as alice; each answer is a greeting or "FAILED: why". */
  const check = async (servers: readonly AutoconfigServer[], env: NodeJS.ProcessEnv = {}) => {
    const { stdout } = await run("python3", ["-c", CHECK], {
      env: {
        ...process.env,
        ...env,
        SERVERS: JSON.stringify(servers),
        LOGIN: ALICE,
        PASSWORD: local.ready.passwords.alice!,
        CA: ca,
      },
      timeout: 120_000,
    });
    const answers = JSON.parse(stdout) as Record<string, string>;
    assert.equal(Object.keys(answers).length, servers.length);
    for (const [server, answer] of Object.entries(answers))
      assert.doesNotMatch(answer, /^FAILED/, `${server}: ${answer}`);
    return answers;
  };
  const dig = async (name: string, type: string) =>
    (
      await run("dig", ["@127.0.0.1", "-p", String(ports.dns), "+short", "+time=5", "+tries=2", name, type])
    ).stdout.trim();

  await t.test("autoconfig names local mode's own ports (not 993, 465), the address as the login", () => {
    assert.deepEqual(config.domains, ["alice.semail.test"]);
    assert.deepEqual(named(config.incoming), [
      `imap 127.0.0.1:${ports.imaps} SSL`,
      `imap 127.0.0.1:${ports.imap} STARTTLS`,
      `pop3 127.0.0.1:${ports.pop3s} SSL`,
    ]);
    // The inbound daemon's submission listeners (465's and 587's roles), not outbound's plain port.
    assert.deepEqual(named(config.outgoing), [
      `smtp 127.0.0.1:${ports.inboundSubmissions} SSL`,
      `smtp 127.0.0.1:${ports.inboundSubmission} STARTTLS`,
    ]);
    for (const server of [...config.incoming, ...config.outgoing]) assert.equal(server.username, "%EMAILADDRESS%");
  });

  await t.test(
    "every server it names answers there with its protocol and TLS, and takes alice's address and password",
    async () => {
      const answers = await check([...config.incoming, ...config.outgoing]);
      assert.match(answers[`imap 127.0.0.1:${ports.imaps} SSL`]!, /^\* OK/);
      assert.match(answers[`pop3 127.0.0.1:${ports.pop3s} SSL`]!, /^\+OK/);
    },
  );

  await t.test("the local named's SRV records and autoconfig name the same", async () => {
    assert.equal(await dig("_imaps._tcp.alice.semail.test", "SRV"), `0 1 ${ports.imaps} mx.semail.test.`);
    assert.equal(await dig("_imap._tcp.alice.semail.test", "SRV"), `10 1 ${ports.imap} mx.semail.test.`);
    assert.equal(await dig("_pop3s._tcp.alice.semail.test", "SRV"), `0 1 ${ports.pop3s} mx.semail.test.`);
    assert.equal(
      await dig("_submissions._tcp.alice.semail.test", "SRV"),
      `0 1 ${ports.inboundSubmissions} mx.semail.test.`,
    );
    assert.equal(
      await dig("_submission._tcp.alice.semail.test", "SRV"),
      `10 1 ${ports.inboundSubmission} mx.semail.test.`,
    );
    assert.match(await dig("autoconfig.alice.semail.test", "A"), /^autoconfig\.semail\.test\.\n127\.0\.0\.1$/);
  });

  await t.test(
    "sending: over each outgoing server, AUTH only after TLS with alice's address, and her message reaches bob's INBOX",
    async () => {
      assert.equal(config.outgoing.length, 2, "autoconfig names both submission ports");
      await check(config.outgoing, { SEND_TO: BOB });
      const inbox = join(dataDir, "mail", "bob", "INBOX");
      const subjects = named(config.outgoing).map((server) => `via ${server}`);
      const messages = await untilValue(
        async () => {
          const got = await readMbox(inbox).catch(() => []);
          return subjects.every((subject) => got.some((m) => m.subject === subject)) ? got : undefined;
        },
        "alice's messages in bob's INBOX",
        60_000,
        100,
      );
      for (const subject of subjects) {
        const message = messages.find((m) => m.subject === subject)!;
        const header = (name: string) => message.headers.filter(([k]) => k === name).map(([, v]) => v);
        assert.deepEqual(header("Delivered-To"), [BOB], subject);
        assert.deepEqual(header("Return-Path"), [`<${ALICE}>`], subject);
        // Newest hop first: inbound as MX (outbound's STARTTLS, no AUTH), outbound's submission
        // (the hand-off's AUTH, plain on loopback), inbound's submission (AUTH over TLS).
        assert.deepEqual(
          header("Received").map((r) => /\bwith (\S+)/.exec(r)?.[1]),
          ["ESMTPS", "ESMTPA", "ESMTPSA"],
          subject,
        );
        assert.match(message.body, /Sent as a mail program sends\./);
      }
    },
  );

  await t.test("the MX port (25's role) offers no AUTH, before or after STARTTLS, and refuses one", async () => {
    const { stdout } = await run("python3", ["-c", NO_AUTH], {
      env: {
        ...process.env,
        PORT: String(ports.inbound),
        LOGIN: ALICE,
        PASSWORD: local.ready.passwords.alice!,
        CA: ca,
      },
      timeout: 60_000,
    });
    const answer = JSON.parse(stdout) as { before: boolean; starttls: boolean; after: boolean; auth: [number, string] };
    assert.deepEqual(
      { before: answer.before, starttls: answer.starttls, after: answer.after },
      { before: false, starttls: true, after: false },
    );
    assert.equal(answer.auth[0], 500, answer.auth[1]);
  });
});
