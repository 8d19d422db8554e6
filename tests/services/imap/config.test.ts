// The Dovecot configuration SEMail renders (services/imap/config.ts), without Dovecot
// running: what each decision puts in the file, the settings refused by name, the users
// file from the users list, Dovecot's own parse of the result, and the post-login script
// that subscribes new pair folders.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { mailUid } from "../../../config/mail-uid.ts";
import { imapSettings } from "../../../config/sections/imap.ts";
import { ldapSettings } from "../../../config/sections/ldap.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { localCertificate } from "../../../services/imap/certificate.ts";
import { imapUsers, renderUsersFile } from "../../../config/imap-users.ts";
import {
  ImapConfigError,
  imapPaths,
  renderDovecotConf,
  renderLdapConf,
  renderPostLogin,
  type DovecotConfigInput,
} from "../../../services/imap/config.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);

function input(overrides: Partial<DovecotConfigInput> = {}, imap: Record<string, unknown> = {}): DovecotConfigInput {
  return {
    imap: imapSettings.parse({ stateDir: "/var/lib/semail/imap", trustedNetworks: ["10.88.0.0/16"], ...imap }),
    ldap: ldapSettings.parse({
      url: "ldap://10.0.0.5:389",
      baseDn: "dc=semail,dc=email",
      userDnTemplate: "uid={uid},ou=people,dc=semail,dc=email",
    }),
    mailRoot: "/var/mail/semail",
    tls: { cert: "/etc/semail/tls/cert.pem", key: "/etc/semail/tls/key.pem" },
    ...overrides,
  };
}

/** The value of `key` at the top level of the rendered text. */
function setting(conf: string, key: string): string | undefined {
  return new RegExp(`^${key} = (.*)$`, "m").exec(conf)?.[1];
}

test("the login is the LDAP uid or a mailbox address (the users file names its owner first), upper case is folded, a bind checks the password, the users file admits", () => {
  const conf = renderDovecotConf(input());
  const chars = setting(conf, "auth_username_chars")!;
  assert.ok(chars.includes("@") && !chars.includes(",") && !chars.includes("=") && !chars.includes("*"), chars);
  assert.equal(setting(conf, "auth_username_format"), "%Lu");
  const passdbs = [...conf.matchAll(/^passdb \{\n([^}]*)\}/gm)].map((m) => m[1]!);
  assert.equal(passdbs.length, 3);
  // Names with '@' only: an address in the users file becomes its owner, any other is refused before LDAP.
  assert.match(
    passdbs[0]!,
    /driver = passwd-file\n\s*args = \/var\/lib\/semail\/imap\/users\n\s*username_filter = \*@\*\n\s*result_success = continue\n\s*result_failure = return-fail/,
  );
  assert.match(passdbs[1]!, /driver = ldap\n.*\n\s*result_success = continue-ok\n\s*result_failure = return-fail/);
  assert.match(passdbs[2]!, /driver = passwd-file\n\s*args = \/var\/lib\/semail\/imap\/users\n/);
  assert.doesNotMatch(passdbs[2]!, /username_filter/);
  assert.match(conf, /^userdb \{\n\s*driver = passwd-file\n\s*args = \/var\/lib\/semail\/imap\/users\n\}/m);
  assert.equal(setting(conf, "first_valid_uid"), "200000");
  const ldap = renderLdapConf(input().ldap);
  assert.match(ldap, /^auth_bind = yes$/m);
  assert.match(ldap, /^auth_bind_userdn = uid=%u,ou=people,dc=semail,dc=email$/m);
  assert.match(ldap, /^uris = ldap:\/\/10\.0\.0\.5:389$/m);
});

test("the user's own mbox files, Dovecot's files in its own directory, dotlock and fcntl for reading and writing", () => {
  const conf = renderDovecotConf(input());
  assert.equal(
    setting(conf, "mail_location"),
    "mbox:/var/mail/semail/%u/mail:INBOX=/var/mail/semail/%u/INBOX:INDEX=/var/lib/semail/imap/index/%u:CONTROL=/var/lib/semail/imap/control/%u:UTF-8",
  );
  assert.equal(setting(conf, "mbox_read_locks"), "fcntl dotlock");
  assert.equal(setting(conf, "mbox_write_locks"), "fcntl dotlock");
  for (const name of ["Sent", "Drafts", "Trash"])
    assert.match(conf, new RegExp(`mailbox ${name} \\{\\n\\s*special_use = \\\\${name}\\n\\s*auto = subscribe`));
});

test("listeners and TLS: ports from the settings, plain LOGIN only from loopback and the trusted networks", () => {
  const conf = renderDovecotConf(
    input({}, { imapPort: 1143, imapsPort: 1993, pop3sPort: 1995, listen: ["127.0.0.1", "10.88.0.1"] }),
  );
  assert.equal(setting(conf, "listen"), "127.0.0.1, 10.88.0.1");
  assert.match(conf, /inet_listener imap \{\n\s*port = 1143\n/);
  assert.match(conf, /inet_listener imaps \{\n\s*port = 1993\n\s*ssl = yes/);
  assert.match(conf, /inet_listener pop3s \{\n\s*port = 1995\n\s*ssl = yes/);
  assert.match(conf, /inet_listener pop3 \{\n\s*port = 0\n/);
  assert.equal(setting(conf, "disable_plaintext_auth"), "yes");
  assert.equal(setting(conf, "login_trusted_networks"), "127.0.0.1 ::1 10.88.0.0/16");
  assert.equal(setting(conf, "ssl_cert"), "</etc/semail/tls/cert.pem");
  assert.equal(setting(conf, "protocols"), "imap pop3");
  assert.equal(setting(renderDovecotConf(input({}, { pop3sPort: 0 })), "protocols"), "imap");
});

test("settings it cannot use are refused by name", () => {
  assert.throws(
    () => renderDovecotConf(input({ tls: {} })),
    (e: Error) => e instanceof ImapConfigError && /tls\.cert and tls\.key/.test(e.message),
  );
  assert.throws(
    () => renderDovecotConf(input({}, { imapPort: 0, imapsPort: 0, pop3sPort: 0 })),
    /nothing would listen/,
  );
  assert.throws(() => renderDovecotConf(input({}, { imapPort: 993 })), /must differ/);
  assert.throws(() => renderDovecotConf(input({ mailRoot: '/var/mail/"x' })), /inbound\.mailRoot .* no quotes/);
  const search = ldapSettings.parse({ userDnTemplate: "cn={uid},ou=people,dc=x" });
  assert.throws(() => renderDovecotConf(input({ ldap: search })), /ldap\.userDnTemplate .* uid=\{uid\},/);
  assert.throws(() => imapSettings.parse({ trustedNetworks: ["everyone"] }), /must be an address or ADDR\/PREFIX/);
});

test("the users file holds the live mailboxes only, each with its mail uid and root, and its address standing for the owner", () => {
  const list = parseUsersList(
    "mailboxes:\n  - owner: alice\n    address: alice@alice.semail.email\n  - owner: carol\n    address: me@carol.example\n    pendingProof: 0123456789abcdef0123\n",
    { managedDomain: "semail.email", defaultSize: 1 << 30, minSize: 1 },
  );
  assert.equal(
    renderUsersFile(imapUsers(list, "/var/mail/semail/")),
    `alice::${mailUid("alice")}:${mailUid("alice")}::/var/mail/semail/alice::\nalice@alice.semail.email:::::::user=alice noauthenticate\n`,
  );
  assert.equal(renderUsersFile([]), "");
  assert.throws(
    () => renderUsersFile([{ owner: "alice", uid: 1, home: "/m/alice", address: "a:b@x.example" }]),
    /':' or white space/,
  );
});

test("Dovecot's own parser reads the rendered configuration as meant", { skip: needsRoot }, async (t) => {
  const present = await run("doveconf", ["-c", "/dev/null", "-d"]).then(
    () => true,
    () => false,
  );
  if (!present) return t.skip("doveconf is not installed");
  const cert = await selfSignedCertificate();
  t.after(() => cert.cleanup());
  const dir = await tempDir(t, "semail-imap-conf-");
  const rendered = input({ tls: { cert: cert.certFile, key: cert.keyFile } }, { stateDir: dir });
  const paths = imapPaths(dir);
  await writeFile(paths.config, renderDovecotConf(rendered));
  await writeFile(paths.ldapConfig, renderLdapConf(rendered.ldap));
  await writeFile(paths.users, "");
  const { stdout } = await run("doveconf", ["-c", paths.config, "-n"]);
  assert.match(stdout, /^mbox_read_locks = fcntl dotlock$/m);
  // Settings at Dovecot's defaults (auth_username_format %Lu, mbox_write_locks) are not printed by -n.
  assert.match(stdout, /^auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\._-@$/m);
  assert.match(
    stdout,
    /^passdb \{\n\s*args = .*\/users\n\s*driver = passwd-file\n(.*\n)*?\s*username_filter = \*@\*\n\}/m,
  );
  assert.doesNotMatch(stdout, /^listen = /m, "listen is Dovecot's default *, ::");
  assert.match(
    stdout,
    new RegExp(
      `^mail_location = mbox:/var/mail/semail/%u/mail:INBOX=/var/mail/semail/%u/INBOX:INDEX=${dir}/index/%u:CONTROL=${dir}/control/%u:UTF-8$`,
      "m",
    ),
  );
  assert.match(stdout, /executable = script-login -d /);
});

test("the post-login script subscribes pair folders never offered, keeps the user's unsubscriptions, and always runs imap", async (t) => {
  const dir = await tempDir(t, "semail-imap-postlogin-");
  const control = path.join(dir, "control");
  const home = path.join(dir, "home", "alice");
  await mkdir(path.join(control, "alice"), { recursive: true });
  await mkdir(path.join(home, "mail", "Sub"), { recursive: true });
  const script = path.join(dir, "postlogin.sh");
  await writeFile(script, renderPostLogin(control), { mode: 0o755 });
  for (const name of [
    "alice@a.semail.test,bob@example.org",
    "alice@a.semail.test,=3dx=2cy+z@e.example",
    "Sent",
    ".alice@x.lock.tag.1",
    "Trash.lock",
  ])
    await writeFile(path.join(home, "mail", name), "");
  const login = () =>
    run("sh", [script, "echo", "imap ran"], { env: { PATH: process.env.PATH, USER: "alice", HOME: home } });

  assert.equal((await login()).stdout, "imap ran\n");
  const subscriptions = path.join(control, "alice", ".subscriptions");
  assert.equal(
    await readFile(subscriptions, "utf8"),
    "V\t2\n\nSent\nalice@a.semail.test,=3dx=2cy+z@e.example\nalice@a.semail.test,bob@example.org\n",
  );

  // The user unsubscribes one (Dovecot rewrites the file); a new folder arrives; the next login adds only it.
  await writeFile(subscriptions, "V\t2\n\nSent\nalice@a.semail.test,bob@example.org\n");
  await writeFile(path.join(home, "mail", "alice@a.semail.test,new@example.org"), "");
  await login();
  assert.equal(
    await readFile(subscriptions, "utf8"),
    "V\t2\n\nSent\nalice@a.semail.test,bob@example.org\nalice@a.semail.test,new@example.org\n",
  );

  // Dovecot holds its lock on the file: the script gives up subscribing, never the login.
  await writeFile(path.join(home, "mail", "alice@a.semail.test,later@example.org"), "");
  await writeFile(`${subscriptions}.lock`, "");
  const started = Date.now();
  assert.equal((await login()).stdout, "imap ran\n");
  assert.ok(Date.now() - started < 10_000);
  assert.doesNotMatch(await readFile(subscriptions, "utf8"), /later/);
  // A user with no control directory (or no mail/) logs in all the same.
  assert.equal(
    (
      await run("sh", [script, "echo", "imap ran"], {
        env: { PATH: process.env.PATH, USER: "bob", HOME: path.join(dir, "home", "bob") },
      })
    ).stdout,
    "imap ran\n",
  );
});

test("local mode's certificate is made once and reused", async (t) => {
  const dir = await tempDir(t, "semail-imap-cert-");
  const files = await localCertificate(path.join(dir, "tls"), "mx.semail.test");
  const { stdout } = await run("openssl", ["x509", "-in", files.cert, "-noout", "-subject", "-ext", "subjectAltName"]);
  assert.match(stdout, /CN ?= ?mx\.semail\.test/);
  assert.match(stdout, /DNS:localhost, IP Address:127\.0\.0\.1/);
  const first = await readFile(files.cert, "utf8");
  await localCertificate(path.join(dir, "tls"), "mx.semail.test");
  assert.equal(await readFile(files.cert, "utf8"), first);
});
