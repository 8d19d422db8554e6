// The IMAP image (provisioning/images/imap): its templates are what provisioning/imap
// renders; on a real Docker engine it refuses a missing setting by name, turns healthy,
// speaks IMAPS, and Dovecot inside serves a mounted mailbox root as its mail uid from the
// users file SEMail renders. One build.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { mailUid } from "../../config/mail-uid.ts";
import { imageTemplates } from "../../provisioning/imap/image-templates.ts";
import { dockerEngine } from "../helpers/docker.ts";
import { selfSignedCertificate } from "../helpers/tls.ts";
import { buildImage, dockerScope } from "../images/fixture.ts";

const FOLDER = path.join(import.meta.dirname, "../../provisioning/images/imap");
const run = promisify(execFile);

test("the image's templates are provisioning/imap's rendering (node provisioning/imap/image-templates.ts rewrites them)", async () => {
  for (const [name, text] of Object.entries(imageTemplates())) {
    assert.equal(await readFile(path.join(FOLDER, name), "utf8"), text, `${name} is out of date`);
  }
});

test("the IMAP image: refuses a missing setting by name, turns healthy, serves a mounted mailbox", { skip: process.getuid?.() === 0 ? undefined : "needs root (Docker, mail uids)", timeout: 20 * 60_000 }, async (t) => {
  const engine = await dockerEngine();
  t.after(() => engine.release());
  const started = Date.now();
  const image = await buildImage(engine, "imap");
  t.diagnostic(`image built (or found in the cache) in ${Date.now() - started} ms`);
  const scope = dockerScope(t, engine);

  const refusal = (env: string[]) => engine.docker(["run", "--rm", ...env.flatMap((e) => ["-e", e]), image]).then(() => "started", (e: Error) => e.message);
  assert.match(await refusal([]), /IMAP_LDAP_URL is not set/);
  assert.match(await refusal(["IMAP_LDAP_URL=ldap://x"]), /IMAP_LDAP_BASE_DN is not set/);
  assert.match(await refusal(["IMAP_LDAP_URL=ldap://x", "IMAP_LDAP_BASE_DN=dc=semail,dc=test", "IMAP_MAIL_ROOT=/tmp", "IMAP_TRUSTED_NETWORKS=10.0.0.0/8 everyone"]), /IMAP_TRUSTED_NETWORKS: "everyone" is not an address/);
  assert.match(await refusal(["IMAP_LDAP_URL=ldap://x", "IMAP_LDAP_BASE_DN=dc=semail,dc=test", "IMAP_MAIL_ROOT=/nowhere"]), /IMAP_MAIL_ROOT=\/nowhere is not a directory/);

  // What the deployment mounts: the mailbox roots (owned by their mail uids), the certificate, the users file.
  const dir = await scope.dir("semail-imap-image-");
  const mailRoot = path.join(dir, "mail");
  const uid = mailUid("alice");
  await mkdir(path.join(mailRoot, "alice", "mail"), { recursive: true });
  await writeFile(path.join(mailRoot, "alice", "INBOX"), "From a@example.org Mon Nov 30 10:00:00 2026\nSubject: hello\n\nHi.\n\n");
  await writeFile(path.join(mailRoot, "alice", "mail", "alice@alice.semail.test,a@example.org"), "From a@example.org Mon Nov 30 10:00:00 2026\nSubject: hello\n\nHi.\n\n");
  await run("chown", ["-R", `${uid}:${uid}`, path.join(mailRoot, "alice")]);
  await mkdir(path.join(dir, "imap"));
  await writeFile(path.join(dir, "imap", "users"), `alice::${uid}:${uid}::/var/mail/semail/alice::\n`);
  const cert = await selfSignedCertificate("imap.semail.test");
  t.after(() => cert.cleanup());
  const mounts = ["-v", `${mailRoot}:/var/mail/semail`, "-v", `${dir}/imap:/etc/semail/imap:ro`, "-v", `${cert.certFile}:/etc/semail/tls/cert.pem:ro`, "-v", `${cert.keyFile}:/etc/semail/tls/key.pem:ro`];
  const network = await scope.network();
  const id = await scope.run(["--network", network, ...mounts, "-e", "IMAP_LDAP_URL=ldap://semail-directory:389", "-e", "IMAP_LDAP_BASE_DN=dc=semail,dc=test", image]);
  await scope.healthy(id);
  t.diagnostic(`healthy ${Date.now() - started} ms after the test began`);

  const doveadm = (args: string[]) => engine.docker(["exec", id, "doveadm", "-c", "/var/lib/semail/imap/dovecot.conf", ...args]);
  assert.match(await doveadm(["user", "alice"]), new RegExp(`uid\\s+${uid}\\b`));
  assert.deepEqual((await doveadm(["mailbox", "list", "-u", "alice"])).trim().split("\n").sort(), ["Drafts", "INBOX", "Junk", "Sent", "Trash", "alice@alice.semail.test,a@example.org"]);
  assert.match(await doveadm(["fetch", "-u", "alice", "hdr.subject", "mailbox", "INBOX", "all"]), /hdr\.subject: hello/);
  await assert.rejects(doveadm(["user", "bob"]), /bob/, "a user not in the users file is unknown");

  // IMAPS answers with the mounted certificate (the login itself needs the directory, tested in dovecot.test.ts).
  const host = await scope.address(id, network);
  const greeting = await new Promise<{ line: string; cn: string }>((resolve, reject) => {
    const socket = connect({ host, port: 993, rejectUnauthorized: false, servername: "imap.semail.test", timeout: 10_000 }, () => {
      const cn = String(socket.getPeerCertificate().subject?.CN ?? "");
      socket.once("data", (data) => {
        resolve({ line: data.toString("latin1"), cn });
        socket.destroy();
      });
    });
    socket.once("error", reject);
    socket.once("timeout", () => reject(new Error("no IMAPS greeting")));
  });
  assert.equal(greeting.cn, "imap.semail.test");
  assert.match(greeting.line, /^\* OK/);
});
