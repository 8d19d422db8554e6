// The webmail image (provisioning/images/webmail): its template is what provisioning/webmail
// renders; on a real Docker engine it refuses a missing or wrong setting by name, makes its
// des_key in the volume (not in the image), and turns healthy serving Roundcube's login
// page as www-data. One build. (The login itself is the browser test's: same renderer.)
import assert from "node:assert/strict";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { imageTemplates } from "../../../provisioning/webmail/image-templates.ts";
import { dockerEngine } from "../../helpers/docker.ts";
import { selfSignedCertificate } from "../../helpers/tls.ts";
import { buildImage, dockerScope } from "../images/fixture.ts";
import { repoPath } from "../../helpers/repo-path.ts";

const FOLDER = repoPath("provisioning/images/webmail");

test("the image's template is provisioning/webmail's rendering (node provisioning/webmail/image-templates.ts rewrites it)", async () => {
  for (const [name, text] of Object.entries(imageTemplates())) {
    assert.equal(await readFile(path.join(FOLDER, name), "utf8"), text, `${name} is out of date`);
  }
});

test("the webmail image: refuses a wrong setting by name, keeps its des_key out of the image, turns healthy", { skip: process.getuid?.() === 0 ? undefined : "needs root (Docker)", timeout: 20 * 60_000 }, async (t) => {
  const engine = await dockerEngine();
  t.after(() => engine.release());
  const started = Date.now();
  const image = await buildImage(engine, "webmail");
  t.diagnostic(`image built (or found in the cache) in ${Date.now() - started} ms`);
  const scope = dockerScope(t, engine);

  const refusal = (env: string[], mounts: string[] = []) => engine.docker(["run", "--rm", ...mounts, ...env.flatMap((e) => ["-e", e]), image]).then(() => "started", (e: Error) => e.message);
  assert.match(await refusal([]), /WEBMAIL_IMAP is not set/);
  assert.match(await refusal(["WEBMAIL_IMAP=semail-imap:143"]), /WEBMAIL_SMTP is not set/);
  assert.match(await refusal(["WEBMAIL_IMAP=semail-imap", "WEBMAIL_SMTP=x:587"]), /WEBMAIL_IMAP="semail-imap" must be HOST:PORT/);
  assert.match(await refusal(["WEBMAIL_IMAP=semail-imap:143", "WEBMAIL_SMTP=semail-outbound:587"]), /WEBMAIL_CA_FILE=\/etc\/semail\/tls\/ca\.pem cannot be read/);
  // The package's configuration, with the des_key Debian made at install, is not in the image.
  assert.equal((await engine.docker(["run", "--rm", "--entrypoint", "sh", image, "-c", "grep -rls des_key /etc/roundcube | grep -v defaults.inc.php || true"])).trim(), "");

  const dir = await scope.dir("semail-webmail-image-");
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  const cert = await selfSignedCertificate("imap.semail.test");
  t.after(() => cert.cleanup());
  const mounts = ["-v", `${dir}/webmail:/etc/semail/webmail:ro`, "-v", `${cert.certFile}:/etc/semail/tls/ca.pem:ro`];
  assert.match(await refusal(["WEBMAIL_IMAP=semail-imap:143", "WEBMAIL_SMTP=semail-outbound:587", "WEBMAIL_WORKERS=100"], mounts), /WEBMAIL_WORKERS="100" must be 1 to 16/);
  const network = await scope.network();
  const id = await scope.run(["--network", network, ...mounts, "-e", "WEBMAIL_IMAP=semail-imap:143", "-e", "WEBMAIL_SMTP=semail-outbound:587", image]);
  await scope.healthy(id);
  t.diagnostic(`healthy ${Date.now() - started} ms after the test began`);

  const inside = (command: string) => engine.docker(["exec", id, "sh", "-c", command]).then((s) => s.trim());
  assert.match(await inside("stat -c '%U:%G %a %s' /var/lib/semail/webmail/des_key"), /^root:www-data 640 33$/, "a des_key of its own in the volume");
  // No procps in the image: PHP's processes from /proc, by their owner.
  const owners = (await inside("for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = php ] && stat -c %U $d; done; true")).split("\n");
  assert.deepEqual(owners, ["www-data", "www-data", "www-data"], "the server and its two workers, as www-data");
  assert.match(await inside("cat /proc/1/cmdline | tr '\\0' ' '"), /session\.gc_probability=1 .*session\.gc_divisor=100/, "the same PHP flags as provisioning/webmail");
  const page = await inside("php -r 'echo file_get_contents(\"http://127.0.0.1:8080/\");'");
  assert.match(page, /rcmloginuser/);
  assert.doesNotMatch(page, /Roundcube Webmail 1\./, "no version on the login page");
});
