// The IMAP image (assets/images/imap): its templates are what services/imap
// renders; on a real Docker engine it refuses a missing setting by name, turns healthy,
// speaks IMAPS, and Dovecot inside serves a mounted mailbox root as its mail uid from the
// users file SEMail renders, to a login checked against a real slapd. One build.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { connect as netConnect, createServer, type AddressInfo } from "node:net";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { mailUid } from "../../../config/mail-uid.ts";
import { renderUsersFile } from "../../../config/imap-users.ts";
import { imageTemplates } from "../../../services/imap/image-templates.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { startTestSlapd, TEST_USERS } from "../../helpers/slapd.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE_PASSWORD = TEST_USERS.find((u) => u.uid === "alice")!.password;
const FOLDER = repoPath("assets/images/imap");
const run = promisify(execFile);

test("the image's templates are services/imap's rendering (node services/imap/image-templates.ts rewrites them)", async () => {
  for (const [name, text] of Object.entries(imageTemplates())) {
    assert.equal(await readFile(path.join(FOLDER, name), "utf8"), text, `${name} is out of date`);
  }
});

test("the IMAP image: refuses a missing setting by name, turns healthy, serves a mounted mailbox", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  const scope = dockerScope(t, engine);
  // After the scope's own cleanup (hooks run in the order they are added).
  t.after(() => engine.release());
  const started = Date.now();
  const image = await buildImage(engine, "imap");
  t.diagnostic(`image built (or found in the cache) in ${Date.now() - started} ms`);

  const refusal = (env: string[]) =>
    engine.docker(["run", "--rm", ...env.flatMap((e) => ["-e", e]), image]).then(
      () => "started",
      (e: Error) => e.message,
    );
  assert.match(await refusal([]), /IMAP_LDAP_URL is not set/);
  assert.match(await refusal(["IMAP_LDAP_URL=ldap://x"]), /IMAP_LDAP_BASE_DN is not set/);
  assert.match(
    await refusal([
      "IMAP_LDAP_URL=ldap://x",
      "IMAP_LDAP_BASE_DN=dc=semail,dc=test",
      "IMAP_MAIL_ROOT=/tmp",
      "IMAP_TRUSTED_NETWORKS=10.0.0.0/8 everyone",
    ]),
    /IMAP_TRUSTED_NETWORKS: "everyone" is not an address/,
  );
  assert.match(
    await refusal(["IMAP_LDAP_URL=ldap://x", "IMAP_LDAP_BASE_DN=dc=semail,dc=test", "IMAP_MAIL_ROOT=/nowhere"]),
    /IMAP_MAIL_ROOT=\/nowhere is not a directory/,
  );

  // What the deployment mounts: the mailbox roots (owned by their mail uids), the certificate, the users file.
  const dir = await scope.dir("semail-imap-image-");
  const mailRoot = path.join(dir, "mail");
  const uid = mailUid("alice");
  await mkdir(path.join(mailRoot, "alice", "mail"), { recursive: true });
  await writeFile(
    path.join(mailRoot, "alice", "INBOX"),
    "From a@example.org Mon Nov 30 10:00:00 2026\nSubject: hello\n\nHi.\n\n",
  );
  await writeFile(
    path.join(mailRoot, "alice", "mail", "alice@alice.semail.test,a@example.org"),
    "From a@example.org Mon Nov 30 10:00:00 2026\nSubject: hello\n\nHi.\n\n",
  );
  await run("chown", ["-R", `${uid}:${uid}`, path.join(mailRoot, "alice")]);
  await mkdir(path.join(dir, "imap"));
  await writeFile(
    path.join(dir, "imap", "users"),
    renderUsersFile([{ owner: "alice", uid, home: "/var/mail/semail/alice", address: "alice@alice.semail.test" }]),
  );
  const cert = await selfSignedCertificate("imap.semail.test");
  t.after(() => cert.cleanup());
  const mounts = [
    "-v",
    `${mailRoot}:/var/mail/semail`,
    "-v",
    `${dir}/imap:/etc/semail/imap:ro`,
    "-v",
    `${cert.certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${cert.keyFile}:/etc/semail/tls/key.pem:ro`,
  ];
  const network = await scope.network();
  // A real slapd (alice, bob, admin) reached from the container through a forwarder on the
  // network's gateway: the container reaches the host there, while container-to-container
  // traffic may be dropped by another engine's iptables FORWARD policy on this machine.
  const slapd = await startTestSlapd();
  t.after(() => slapd.stop());
  const gateway = (
    await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network])
  ).trim();
  const forwarder = createServer((socket) => {
    const upstream = netConnect(Number(new URL(slapd.url).port), "127.0.0.1");
    socket.on("error", () => upstream.destroy());
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve, reject) => forwarder.once("error", reject).listen(0, gateway, resolve));
  t.after(() => new Promise<void>((resolve) => forwarder.close(() => resolve())));
  const ldapUrl = `ldap://${gateway}:${(forwarder.address() as AddressInfo).port}`;
  const id = await scope.run([
    "--network",
    network,
    ...mounts,
    "-e",
    `IMAP_LDAP_URL=${ldapUrl}`,
    "-e",
    "IMAP_LDAP_BASE_DN=dc=semail,dc=test",
    image,
  ]);
  await scope.healthy(id);
  t.diagnostic(`healthy ${Date.now() - started} ms after the test began`);

  const doveadm = (args: string[]) =>
    engine.docker(["exec", id, "doveadm", "-c", "/var/lib/semail/imap/dovecot.conf", ...args]);
  assert.match(await doveadm(["user", "alice"]), new RegExp(`uid\\s+${uid}\\b`));
  assert.deepEqual((await doveadm(["mailbox", "list", "-u", "alice"])).trim().split("\n").sort(), [
    "Drafts",
    "INBOX",
    "Junk",
    "Sent",
    "Trash",
    "alice@alice.semail.test,a@example.org",
  ]);
  assert.match(
    await doveadm(["fetch", "-u", "alice", "hdr.subject", "mailbox", "INBOX", "all"]),
    /hdr\.subject: hello/,
  );
  await assert.rejects(doveadm(["user", "bob"]), /bob/, "a user not in the users file is unknown");

  // IMAPS answers with the mounted certificate (the login itself needs the directory, tested in dovecot.test.ts).
  const host = await scope.address(id, network);
  const greeting = await new Promise<{ line: string; cn: string }>((resolve, reject) => {
    const socket = connect(
      { host, port: 993, rejectUnauthorized: false, servername: "imap.semail.test", timeout: 10_000 },
      () => {
        const cn = String(socket.getPeerCertificate().subject?.CN ?? "");
        socket.once("data", (data) => {
          resolve({ line: data.toString("latin1"), cn });
          socket.destroy();
        });
      },
    );
    socket.once("error", reject);
    socket.once("timeout", () => reject(new Error("no IMAPS greeting")));
  });
  assert.equal(greeting.cn, "imap.semail.test");
  assert.match(greeting.line, /^\* OK/);

  // A login through the image: an LDAP bind as alice, her folders as the mounted files hold them.
  const session = await run(
    "python3",
    [
      "-c",
      `
import imaplib, json, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def attempt(user, password):
    m = imaplib.IMAP4_SSL(sys.argv[1], 993, ssl_context=ctx, timeout=30)
    try:
        m.login(user, password)
    except imaplib.IMAP4.error as e:
        return str(e)
    typ, folders = m.list()
    m.logout()
    return [f.decode() for f in folders]
print(json.dumps({"alice": attempt("alice", sys.argv[2]), "address": attempt("alice@alice.semail.test", sys.argv[2]), "wrong": attempt("alice", "wrong"), "domain": attempt("alice@other.example", sys.argv[2])}))
`,
      host,
      ALICE_PASSWORD,
    ],
    { timeout: 60_000 },
  );
  const logins = JSON.parse(session.stdout) as {
    alice: string[] | string;
    address: string[] | string;
    wrong: string;
    domain: string;
  };
  assert.ok(Array.isArray(logins.alice), `${String(logins.alice)}\n${await scope.logs(id)}`);
  assert.deepEqual(logins.address, logins.alice, "her address logs in as alice, to the same folders");
  assert.ok(
    logins.alice.some(
      (f) =>
        f.endsWith('"alice@alice.semail.test,a@example.org"') || f.endsWith(" alice@alice.semail.test,a@example.org"),
    ),
    logins.alice.join("\n"),
  );
  assert.match(logins.wrong, /AUTHENTICATIONFAILED/);
  assert.match(logins.domain, /AUTHENTICATIONFAILED/);
});
