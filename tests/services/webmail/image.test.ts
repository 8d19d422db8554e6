// The webmail image (assets/images/webmail): its templates are what services/webmail
// renders; on a real Docker engine it refuses a missing or wrong setting (or a key that is not
// the certificate's) by name, makes its des_key in the volume (not in the image), writes IMAPS
// and STARTTLS endpoints checked against the public CAs and the mounted certificate, and turns
// healthy. One build. (HTTPS is https.test.ts's; the login itself the browser test's: same renderer.)
import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { imageTemplates } from "../../../services/webmail/image-templates.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const FOLDER = repoPath("assets/images/webmail");

test("the image's template is services/webmail's rendering (node services/webmail/image-templates.ts rewrites it)", async () => {
  for (const [name, text] of Object.entries(imageTemplates())) {
    assert.equal(await readFile(path.join(FOLDER, name), "utf8"), text, `${name} is out of date`);
  }
});

test("the webmail image: refuses a wrong setting by name, keeps its des_key out of the image, turns healthy", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  // After hooks run first-registered first: the scope removes its containers and networks
  // while the engine still runs, then the engine is let go.
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const started = Date.now();
  const image = await buildImage(engine, "webmail");
  t.diagnostic(`image built (or found in the cache) in ${Date.now() - started} ms`);

  const refusal = (env: string[], mounts: string[] = []) =>
    engine.docker(["run", "--rm", ...mounts, ...env.flatMap((e) => ["-e", e]), image]).then(
      () => "started",
      (e: Error) => e.message,
    );
  assert.match(await refusal([]), /WEBMAIL_IMAP is not set/);
  assert.match(await refusal(["WEBMAIL_IMAP=semail-imap:993"]), /WEBMAIL_SMTP is not set/);
  assert.match(
    await refusal(["WEBMAIL_IMAP=semail-imap", "WEBMAIL_SMTP=x:587"]),
    /WEBMAIL_IMAP="semail-imap" must be HOST:PORT/,
  );
  assert.match(
    await refusal(["WEBMAIL_IMAP=semail-imap:993", "WEBMAIL_SMTP=semail-outbound:587"]),
    /\/etc\/semail\/tls\/cert\.pem cannot be read: mount the certificate and key/,
  );
  // The package's configuration, with the des_key Debian made at install, is not in the image.
  assert.equal(
    (
      await engine.docker([
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "grep -rls des_key /etc/roundcube | grep -v defaults.inc.php || true",
      ])
    ).trim(),
    "",
  );

  const dir = await scope.dir("semail-webmail-image-");
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  const cert = await selfSignedCertificate("imap.semail.test");
  t.after(() => cert.cleanup());
  const other = await selfSignedCertificate("other.semail.test");
  t.after(() => other.cleanup());
  const tls = (key: string) => [
    "-v",
    `${cert.certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${key}:/etc/semail/tls/key.pem:ro`,
  ];
  const mounts = ["-v", `${dir}/webmail:/etc/semail/webmail:ro`, ...tls(cert.keyFile)];
  const endpoints = ["WEBMAIL_IMAP=semail-imap:993", "WEBMAIL_SMTP=semail-outbound:587"];
  assert.match(await refusal([...endpoints, "WEBMAIL_WORKERS=100"], mounts), /WEBMAIL_WORKERS="100" must be 1 to 16/);
  assert.match(
    await refusal([...endpoints, "WEBMAIL_CA_FILE=/etc/semail/tls/ca.pem"], mounts),
    /WEBMAIL_CA_FILE=\/etc\/semail\/tls\/ca\.pem cannot be read/,
  );
  assert.match(
    await refusal(endpoints, ["-v", `${dir}/webmail:/etc/semail/webmail:ro`, ...tls(other.keyFile)]),
    /nginx refuses the certificate or its configuration: .*key values mismatch/s,
    "a key that is not the certificate's",
  );
  const network = await scope.network();
  const id = await scope.run(["--network", network, ...mounts, ...endpoints.flatMap((e) => ["-e", e]), image]);
  await scope.healthy(id);
  t.diagnostic(`healthy ${Date.now() - started} ms after the test began`);

  const inside = (command: string) => engine.docker(["exec", id, "sh", "-c", command]).then((s) => s.trim());
  assert.match(
    await inside("stat -c '%U:%G %a %s' /var/lib/semail/webmail/des_key"),
    /^root:www-data 640 33$/,
    "a des_key of its own in the volume",
  );
  const config = await inside("cat /var/lib/semail/webmail/config/config.inc.php");
  assert.match(config, /\$config\['imap_host'\] = 'ssl:\/\/semail-imap:993';/, "IMAPS to Dovecot");
  assert.match(config, /\$config\['smtp_host'\] = 'tls:\/\/semail-outbound:587';/, "STARTTLS to the submission");
  assert.match(config, /'cafile' => '\/run\/semail-webmail\/peers-ca\.pem', 'peer_name' => 'semail-imap'/);
  assert.match(config, /\$config\['use_https'\] = true;/);
  // The peers are checked against the public CAs and the certificate mounted.
  assert.ok((await inside("cat /run/semail-webmail/peers-ca.pem")).endsWith(cert.cert.trim()));
  assert.ok(
    Number(await inside("grep -c 'BEGIN CERTIFICATE' /run/semail-webmail/peers-ca.pem")) > 100,
    "with the public CAs",
  );
  const fpm = await inside("cat /run/semail-webmail/php-fpm.conf");
  assert.match(fpm, /^pm\.max_children = 2$/m);
  assert.match(
    fpm,
    /^php_admin_value\[session\.gc_probability\] = 1$/m,
    "the same PHP settings as services/webmail's php -S",
  );
  assert.equal(await inside("/usr/local/sbin/semail-webmail-health && echo ok"), "ok");
});
