// Dovecot (services/imap) over the users' own mbox files, with a real slapd and the real
// inbound daemon: alice logs in with her LDAP password, as her uid or her mailbox address, and reads what the daemon stored,
// her pair folders and Sent/Drafts/Trash are listed and subscribed; every other login is
// refused; LOGIN needs TLS from an address that is not trusted; POP3S reads INBOX; a user
// taken off the users list can no longer log in; a reload prepares only the added users;
// a mailbox root not owned by its mail uid is reported, an unmounted mount point is not.
import assert from "node:assert/strict";
import { chmod, chown, mkdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { mailUid } from "../../../config/mail-uid.ts";
import { imapSettings } from "../../../config/sections/imap.ts";
import { inboundSettings } from "../../../config/sections/inbound.ts";
import { ldapSettings } from "../../../config/sections/ldap.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { usersListOptions } from "../../../config/settings.ts";
import { folderName } from "../../../mailservers/inbound/store/index.ts";
import { imapPaths } from "../../../services/imap/config.ts";
import { startImap, usersChange } from "../../../services/imap/dovecot.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { TEST_USERS } from "../../helpers/slapd.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { sendMessage } from "../../helpers/smtp.ts";
import { until } from "../../../testkit/until.ts";
import { usersYaml } from "../../mailservers/inbound/fixture.ts";
import { CAROL, IMAP_USERS, python, startImapFixture, type ImapFixture } from "./fixture.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE = TEST_USERS.find((u) => u.uid === "alice")!.password;
const BOB = TEST_USERS.find((u) => u.uid === "bob")!.password;
const ADMIN = TEST_USERS.find((u) => u.uid === "admin")!.password;
/** Sender addresses whose pair folder names hold `@ , = + .` (and the null sender's). */
const SENDERS = ["carol@example.org", "d.o+tag@x.example", "=weird,name@example.com", ""];

async function send(port: number, from: string, to: string, subject: string, body = "Hello.\r\n"): Promise<void> {
  const data = `From: ${from || "MAILER-DAEMON@example.org"}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.org>\r\n\r\n${body}`;
  const reply = await sendMessage(port, { from, to: [to], data });
  assert.equal(reply.code, 250, reply.lines.join(" "));
}

test("Dovecot over the users' mbox files", { skip: needsRoot, timeout: 180_000 }, async (t) => {
  const started = Date.now();
  const fixture: ImapFixture = await startImapFixture(t, { trustedNetworks: ["127.0.0.3/32"] });
  for (const [i, sender] of SENDERS.entries())
    await send(
      fixture.inbound.port,
      sender,
      "alice@alice.semail.test",
      `m${i}`,
      "Hi alice.\r\nFrom here on, a line the store quotes.\r\n",
    );
  await send(fixture.inbound.port, "carol@example.org", "bob@bob.semail.test", "for-bob");
  t.diagnostic(`fixture (slapd, inbound, dovecot, 5 messages) ready in ${Date.now() - started} ms`);

  await t.test(
    "alice logs in with her LDAP password, lists INBOX, her pair folders and Sent/Drafts/Trash (all subscribed), and fetches what the daemon stored",
    async () => {
      const result = await python<{
        list: string[];
        lsub: string[];
        subjects: string[];
        body: string;
        selectable: Record<string, number>;
      }>(
        fixture,
        `
m = login("alice", "${ALICE}")
def names(lines):
    return sorted(re.match(rb'\\(.*?\\) "(?:/|NIL)" (.*)$', l).group(1).decode().strip('"') for l in lines)
typ, lst = m.list()
typ, lsub = m.lsub()
selectable = {}
for name in names(lst):
    typ, count = m.select('"%s"' % name, readonly=True)
    assert typ == "OK", (name, count)
    selectable[name] = int(count[0])
m.select("INBOX", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
subjects = [d[1].decode().strip() for d in data if isinstance(d, tuple)]
typ, body = m.fetch("1", "(BODY.PEEK[TEXT])")
m.logout()
print(json.dumps({"list": names(lst), "lsub": names(lsub), "subjects": subjects, "body": body[0][1].decode(), "selectable": selectable}))
`,
      );
      const pairs = SENDERS.map((s) => folderName("alice@alice.semail.test", s));
      assert.deepEqual(result.list, ["Drafts", "INBOX", "Junk", "Sent", "Trash", ...pairs].sort());
      // INBOX is always there for clients; the pair folders are subscribed without the user asking.
      assert.deepEqual(
        result.lsub.filter((n) => n !== "INBOX"),
        ["Drafts", "Sent", "Trash", ...pairs].sort(),
      );
      assert.deepEqual(
        result.subjects,
        SENDERS.map((_, i) => `Subject: m${i}`),
      );
      for (const pair of pairs) assert.equal(result.selectable[pair], 1, `${pair} opens with its message`);
      assert.equal(result.selectable.INBOX, SENDERS.length);
      // mboxo quoting is shown as stored (see services/imap/config.ts).
      assert.match(result.body, /^Hi alice\.\r\n>From here on/);
    },
  );

  await t.test(
    "alice logs in with her mailbox address too (any case), as the same user: her INBOX over IMAPS, STARTTLS and POP3S",
    async () => {
      const result = await python<Record<string, unknown>>(
        fixture,
        `
out = {}
m = login("alice@alice.semail.test", "${ALICE}")
out["imaps"] = int(m.select("INBOX", readonly=True)[1][0])
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
out["subject"] = data[0][1].decode().strip()
m.logout()
m = imaplib.IMAP4(HOST, STARTTLS, timeout=30)
m.starttls(ssl_context=CTX)
out["starttls"] = m.login("Alice@Alice.SEMail.test", "${ALICE}")[0]
m.logout()
p = poplib.POP3_SSL(HOST, POP3S, context=CTX, timeout=30)
p.user("alice@alice.semail.test"); p.pass_("${ALICE}")
out["pop3s"] = p.stat()[0]
p.quit()
print(json.dumps(out))
`,
      );
      assert.deepEqual(result, {
        imaps: SENDERS.length,
        subject: "Subject: m0",
        starttls: "OK",
        pop3s: SENDERS.length,
      });
      // Dovecot's session runs as the owner: the address became "alice" before the LDAP bind.
      assert.match(fixture.log(), /Login: user=<alice>/);
      assert.doesNotMatch(fixture.log(), /Login: user=<alice@/);
    },
  );

  await t.test(
    "refuses a bad password, another user's password, alice@other.example, an LDAP user with no mailbox and a pending mailbox",
    async () => {
      const result = await python<Record<string, string | null>>(
        fixture,
        `
print(json.dumps(parallel({
  "bad": lambda: refused("alice", "wrong"),
  "bob-with-alice": lambda: refused("bob", "${ALICE}"),
  "domain": lambda: refused("alice@other.example", "${ALICE}"),
  "address-bad": lambda: refused("alice@alice.semail.test", "wrong"),
  "bob-address-with-alice": lambda: refused("bob@bob.semail.test", "${ALICE}"),
  "address-with-bob": lambda: refused("alice@alice.semail.test", "${BOB}"),
  "pending-address": lambda: refused("carol@carol.example", "${CAROL.password}"),
  "uid-at-domain": lambda: refused("alice@semail.test", "${ALICE}"),
  "no-mailbox": lambda: refused("admin", "${ADMIN}"),
  "pending": lambda: refused("carol", "${CAROL.password}"),
  "empty": lambda: refused("alice", ""),
  "injection": lambda: refused("alice,ou=people", "${ALICE}"),
  "wildcard": lambda: refused("*", "${ALICE}"),
  "upper": lambda: refused("Alice", "${ALICE}"),
  "bob": lambda: refused("bob", "${BOB}"),
})))
`,
      );
      for (const key of [
        "bad",
        "bob-with-alice",
        "domain",
        "address-bad",
        "bob-address-with-alice",
        "address-with-bob",
        "pending-address",
        "uid-at-domain",
        "no-mailbox",
        "pending",
        "empty",
        "injection",
        "wildcard",
      ]) {
        assert.match(result[key] ?? "logged in", /AUTHENTICATIONFAILED/, `${key}: ${result[key]}`);
      }
      assert.equal(result.upper, null, "Alice is alice, as on the web form");
      assert.equal(result.bob, null);
      const log = fixture.log();
      assert.match(
        log,
        /passwd-file\(admin,[^)]*\): unknown user/,
        "admin's LDAP bind succeeded; the users list refused him",
      );
      assert.match(log, /passwd-file\(carol,[^)]*\): unknown user/, "carol's pending mailbox is not in the users file");
      // A name with '@' that is no live mailbox's address goes no further than the users file: no LDAP bind.
      for (const name of ["alice@other.example", "carol@carol.example", "alice@semail.test"]) {
        assert.match(log, new RegExp(`passwd-file\\(${name.replaceAll(".", "\\.")},[^)]*\\): unknown user`), name);
        assert.doesNotMatch(log, new RegExp(`ldap\\(${name.replaceAll(".", "\\.")},`), name);
      }
    },
  );

  await t.test("LOGIN needs STARTTLS from an address outside loopback and imap.trustedNetworks", async () => {
    const result = await python<Record<string, unknown>>(
      fixture,
      `
out = {}
m = PlainFrom("127.0.0.2", HOST, STARTTLS, timeout=30)
out["untrusted_caps"] = " ".join(m.capabilities)
try:
    m.login("alice", "${ALICE}")
    out["untrusted_plain"] = "logged in"
except imaplib.IMAP4.error as e:
    out["untrusted_plain"] = str(e)
m.starttls(ssl_context=CTX)
out["after_starttls"] = m.login("alice", "${ALICE}")[0]
m.logout()
for source in ["127.0.0.1", "127.0.0.3"]:
    m = PlainFrom(source, HOST, STARTTLS, timeout=30)
    out[source] = m.login("alice", "${ALICE}")[0]
    m.logout()
print(json.dumps(out))
`,
    );
    assert.match(String(result.untrusted_caps), /LOGINDISABLED/);
    assert.match(String(result.untrusted_plain), /LOGIN|disabled|PRIVACYREQUIRED|TLS/i);
    assert.equal(result.after_starttls, "OK");
    assert.equal(result["127.0.0.1"], "OK", "loopback may log in without TLS");
    assert.equal(result["127.0.0.3"], "OK", "a trusted network may log in without TLS");
  });

  await t.test("POP3S serves alice's INBOX", async () => {
    const result = await python<{ count: number; top: string }>(
      fixture,
      `
p = poplib.POP3_SSL(HOST, POP3S, context=CTX, timeout=30)
p.user("alice"); p.pass_("${ALICE}")
count, size = p.stat()
resp, lines, octets = p.top(1, 0)
p.quit()
print(json.dumps({"count": count, "top": "\\n".join(l.decode() for l in lines)}))
`,
    );
    assert.equal(result.count, SENDERS.length);
    assert.match(result.top, /^Subject: m0$/m);
  });

  await t.test("a mailbox taken off the users list cannot log in any more, and its session is closed", async () => {
    const logins = () => fixture.log().split("Login: user=<bob>").length;
    const before = logins();
    // bob keeps a session open (NOOP every 200 ms, at most 15 s) while the list changes.
    const held = python<{ error: string | null }>(
      fixture,
      `
import time
m = login("bob", "${BOB}"); m.select("INBOX")
print("selected", flush=True)
t0 = time.time(); error = None
while time.time() - t0 < 15:
    try:
        m.noop(); time.sleep(0.2)
    except Exception as e:
        error = str(e); break
print(json.dumps({"error": error}))
`,
    );
    await until(() => logins() > before, "bob's session");
    const remaining = IMAP_USERS.filter((u) => u.owner !== "bob");
    await writeFile(fixture.inbound.usersFile, usersYaml(remaining));
    await fixture.imap.reload(parseUsersList(usersYaml(remaining), usersListOptions(fixture.inbound.settings)));
    assert.match(
      (await held).error ?? "still open",
      /shutting down|BYE|EOF|closed/i,
      "the removed user's session is closed",
    );
    const after = await python<Record<string, string | null>>(
      fixture,
      `print(json.dumps(parallel({"bob": lambda: refused("bob", "${BOB}"), "bob-address": lambda: refused("bob@bob.semail.test", "${BOB}"), "alice": lambda: refused("alice", "${ALICE}")})))`,
    );
    assert.match(after.bob ?? "logged in", /AUTHENTICATIONFAILED/);
    assert.match(after["bob-address"] ?? "logged in", /AUTHENTICATIONFAILED/);
    assert.equal(after.alice, null);
  });

  await t.test(
    "a reload makes the index and control directories of the added users only; the others' are left as they are",
    async () => {
      const paths = imapPaths(fixture.stateDir);
      const aliceIndex = path.join(paths.index, "alice");
      // Changed behind Dovecot's back: a reload that went over every user would chown it back.
      await chown(aliceIndex, 0, 0);
      try {
        const next = [
          ...IMAP_USERS.filter((u) => u.owner !== "bob"),
          { owner: "dave", address: "dave@dave.semail.test" },
        ];
        await fixture.imap.reload(parseUsersList(usersYaml(next), usersListOptions(fixture.inbound.settings)));
        for (const base of [paths.index, paths.control]) {
          const dave = await stat(path.join(base, "dave"));
          assert.equal(dave.uid, mailUid("dave"));
          assert.equal(dave.mode & 0o777, 0o700);
        }
        assert.equal((await stat(aliceIndex)).uid, 0);
      } finally {
        await chown(aliceIndex, mailUid("alice"), mailUid("alice"));
      }
    },
  );
});

test("a mail root the mailbox uids cannot reach is refused at start, naming the directory to open", {
  skip: needsRoot,
}, async (t) => {
  const dir = await tempDir(t, "semail-imap-closed-");
  await chmod(dir, 0o700);
  const settings = {
    imap: imapSettings.parse({
      stateDir: path.join(dir, "open", "imap"),
      listen: ["127.0.0.1"],
      imapPort: 1,
      imapsPort: 2,
      pop3sPort: 3,
    }),
    ldap: ldapSettings.parse({}),
    tls: { cert: "/nonexistent/cert.pem", key: "/nonexistent/key.pem" },
    inbound: inboundSettings.parse({ mailRoot: path.join(dir, "mail") }),
  };
  const list = parseUsersList(usersYaml(IMAP_USERS), {
    managedDomain: "semail.test",
    defaultSize: 1 << 30,
    minSize: 1,
  });
  await assert.rejects(
    startImap({ settings, list }),
    new RegExp(`inbound\\.mailRoot .*: ${dir} is closed to other users .*chmod o\\+x ${dir}`),
  );
});

test("the mailbox root owner check: a root its mail uid owns logs nothing, an unmounted mount point waits for its mount, a wrong owner warns", {
  skip: needsRoot,
  timeout: 60_000,
}, async (t) => {
  const dir = await tempDir(t, "semail-imap-owners-");
  await chmod(dir, 0o755);
  const cert = await selfSignedCertificate("localhost");
  t.after(() => cert.cleanup());
  const mailRoot = path.join(dir, "mail");
  // alice's root is provisioned and hers; bob's is the empty mount point of a filesystem
  // not mounted yet (root's, as mailbox-fs.sh makes it), as at every start; carol's is
  // provisioned but root's: the one mistake to report.
  for (const owner of ["alice", "bob", "carol"])
    await mkdir(path.join(mailRoot, owner), { recursive: true, mode: 0o755 });
  for (const owner of ["alice", "carol"]) await writeFile(path.join(mailRoot, owner, "INBOX"), "");
  await chown(path.join(mailRoot, "alice"), mailUid("alice"), mailUid("alice"));
  const users = ["alice", "bob", "carol"].map((owner) => ({ owner, address: `${owner}@${owner}.semail.test` }));
  const settings = {
    imap: imapSettings.parse({
      stateDir: path.join(dir, "imap"),
      listen: ["127.0.0.1"],
      imapPort: await freeLoopbackPort(),
      imapsPort: await freeLoopbackPort(),
      pop3sPort: await freeLoopbackPort(),
    }),
    ldap: ldapSettings.parse({}),
    tls: { cert: cert.certFile, key: cert.keyFile },
    inbound: inboundSettings.parse({ mailRoot }),
  };
  const options = { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 };
  const warned: string[] = [];
  const logger = pino(
    { level: "warn" },
    { write: (line: string) => void (/not owned by its mail uid/.test(line) && warned.push(JSON.parse(line).owner)) },
  );
  const imap = await startImap({ settings, list: parseUsersList(usersYaml(users), options), logger });
  t.after(() => imap.stop());
  assert.deepEqual(warned, ["carol"], "at start: only the provisioned root with the wrong owner");

  // The apply mounts bob's filesystem (provisioned, his), then tells Dovecot: still no warning for him.
  await writeFile(path.join(mailRoot, "bob", "INBOX"), "");
  await chown(path.join(mailRoot, "bob"), mailUid("bob"), mailUid("bob"));
  await imap.reload(parseUsersList(usersYaml(users), options));
  assert.deepEqual(warned, ["carol"], "a root mounted after the start, owned right, logs nothing");

  // dave comes with a root mounted but left to root (no --uid): reported once it is provisioned.
  await mkdir(path.join(mailRoot, "dave"));
  const withDave = [...users, { owner: "dave", address: "dave@dave.semail.test" }];
  await imap.reload(parseUsersList(usersYaml(withDave), options));
  assert.deepEqual(warned, ["carol"], "an empty mount point is not judged");
  await writeFile(path.join(mailRoot, "dave", ".semail-mailbox"), "");
  await imap.reload(parseUsersList(usersYaml(withDave), options));
  assert.deepEqual(warned, ["carol", "dave"], "judged at the reload after its mount, and warned about");
  await imap.reload(parseUsersList(usersYaml(withDave), options));
  assert.deepEqual(warned, ["carol", "dave"], "each root is judged once");
});

test("usersChange: who left and who came, by owner, in the order of each file", () => {
  const user = (owner: string) => ({
    owner,
    uid: mailUid(owner),
    home: `/mail/${owner}`,
    address: `${owner}@${owner}.semail.test`,
  });
  const before = ["alice", "bob", "carol", "dave"].map(user);
  const after = ["erin", "carol", "alice", "frank"].map(user);
  const { gone, added } = usersChange(before, after);
  assert.deepEqual(
    gone.map((u) => u.owner),
    ["bob", "dave"],
  );
  assert.deepEqual(
    added.map((u) => u.owner),
    ["erin", "frank"],
  );
  assert.deepEqual(usersChange(before, before), { gone: [], added: [] });
});
