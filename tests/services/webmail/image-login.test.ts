// The webmail image logging a user in the way the VM wires it: Roundcube in its container
// reaches Dovecot in the IMAP image by IMAPS, checks Dovecot's certificate for the name given
// against the mounted certificate (both containers serve the same one, as on the VM), and
// Dovecot binds to a real slapd. A name the certificate does not carry is refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { renderUsersFile } from "../../../config/imap-users.ts";
import { mailUid } from "../../../config/mail-uid.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { startTestSlapd, TEST_USERS } from "../../helpers/slapd.ts";
import { tcpForwarder } from "../../helpers/tcp-forwarder.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { logIn } from "./https-client.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const ALICE_PASSWORD = TEST_USERS.find((u) => u.uid === "alice")!.password;
const MX = "mx.semail.test";
const run = promisify(execFile);

test("the webmail image logs alice in through the IMAP image by IMAPS, Dovecot's certificate checked for its name", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  // After hooks run first-registered first: the scope's containers go before the engine.
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const [webmailImage, imapImage] = [await buildImage(engine, "webmail"), await buildImage(engine, "imap")];

  // One certificate for mx.semail.test, served by both, as tlsCert on the VM.
  const cert = await selfSignedCertificate(MX);
  t.after(() => cert.cleanup());
  const tls = [
    "-v",
    `${cert.certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${cert.keyFile}:/etc/semail/tls/key.pem:ro`,
  ];
  const dir = await scope.dir("semail-webmail-login-");
  const uid = mailUid("alice");
  const mailRoot = path.join(dir, "mail");
  await mkdir(path.join(mailRoot, "alice", "mail"), { recursive: true });
  await writeFile(path.join(mailRoot, "alice", "INBOX"), "");
  await run("chown", ["-R", `${uid}:${uid}`, path.join(mailRoot, "alice")]);
  await mkdir(path.join(dir, "imap"));
  await writeFile(
    path.join(dir, "imap", "users"),
    renderUsersFile([{ owner: "alice", uid, home: "/var/mail/semail/alice", address: "alice@alice.semail.test" }]),
  );
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");

  // Each container reaches the others through forwarders on the network's gateway.
  const network = await scope.network();
  const gateway = (
    await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network])
  ).trim();
  const slapd = await startTestSlapd();
  t.after(() => slapd.stop());
  const ldap = await tcpForwarder(gateway, { host: "127.0.0.1", port: Number(new URL(slapd.url).port) });
  t.after(() => ldap.close());
  const imap = await scope.run([
    "--network",
    network,
    ...tls,
    "-v",
    `${mailRoot}:/var/mail/semail`,
    "-v",
    `${dir}/imap:/etc/semail/imap:ro`,
    "-e",
    `IMAP_LDAP_URL=ldap://${ldap.address}`,
    "-e",
    "IMAP_LDAP_BASE_DN=dc=semail,dc=test",
    imapImage,
  ]);
  await scope.healthy(imap);
  const imaps = await tcpForwarder(gateway, { host: await scope.address(imap, network), port: 993 });
  t.after(() => imaps.close());

  const webmail = async (tlsName: string) => {
    const id = await scope.run([
      "--network",
      network,
      ...tls,
      "-v",
      `${dir}/webmail:/etc/semail/webmail:ro`,
      "-e",
      `WEBMAIL_IMAP=${imaps.address}`,
      "-e",
      "WEBMAIL_SMTP=semail-outbound:587",
      "-e",
      `WEBMAIL_IMAP_TLS_NAME=${tlsName}`,
      "-e",
      `WEBMAIL_SMTP_TLS_NAME=${tlsName}`,
      webmailImage,
    ]);
    await scope.healthy(id);
    return { id, base: `https://${await scope.address(id, network)}/` };
  };

  const right = await webmail(MX);
  const good = await logIn(right.base, cert.cert, { password: ALICE_PASSWORD, name: MX });
  assert.equal(
    good.status,
    302,
    `alice is logged in: ${good.status} ${good.body.slice(0, 300)}\n${await scope.logs(right.id)}`,
  );
  assert.match(String(good.headers.location), /_task=mail/);
  assert.equal(
    (await logIn(right.base, cert.cert, { password: "not-her-password", name: MX })).status,
    401,
    "a wrong password is Dovecot's refusal",
  );

  const wrong = await webmail("other.semail.test");
  assert.equal(
    (await logIn(wrong.base, cert.cert, { password: ALICE_PASSWORD, name: MX })).status,
    401,
    "a certificate without the name given is not trusted",
  );
  assert.match(
    await scope.logs(wrong.id),
    /Peer certificate subjectAltName did not match expected name `other\.semail\.test'/,
    "PHP says why",
  );
});
