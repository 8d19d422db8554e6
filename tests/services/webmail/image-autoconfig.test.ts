// Mozilla autoconfig from the webmail image on a real Docker engine, as production serves it
// on the VM's 80 and 443: the documents written by the Pulumi program's install script
// (components/webmail-server.ts) from the users list, served by the image's nginx at both
// paths, on 80 without a redirect (Thunderbird asks http://autoconfig.<domain>/ first), read
// by a real XML parser; anything else on 80 still goes to HTTPS; a domain with no live
// mailbox gets 404; a changed list is served at once, without a restart.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { autoconfigInstallScript } from "../../../components/webmail-server.ts";
import { autoconfigFiles } from "../../../config/autoconfig.ts";
import { mailHostName, STANDARD_MAIL_CLIENT_PORTS } from "../../../config/mail-clients.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { until } from "../../../testkit/until.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { parseAutoconfig } from "../../webform/autoconfig-xml.ts";
import { get, WEBMAIL_NAME as NAME } from "./https-client.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { LIVE_AND_PENDING, runInstallScript } from "./install-script.ts";

const DOMAIN = "semail.test";
const LIST_OPTIONS = { managedDomain: DOMAIN, defaultSize: 1024 ** 3, minSize: 1024 ** 2 };
const SERVERS = { host: mailHostName(DOMAIN), ports: STANDARD_MAIL_CLIENT_PORTS };

/** Writes the documents of `yaml`'s live domains into `dir` as the VM gets them: `sh -s DIR`, the script on stdin. */
function install(yaml: string, dir: string): Promise<void> {
  return runInstallScript(
    autoconfigInstallScript(autoconfigFiles(parseUsersList(yaml, LIST_OPTIONS), DOMAIN, SERVERS)),
    dir,
  );
}

test("the webmail image answers Thunderbird's autoconfig on 80 without a redirect and on 443, for live mail domains only", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const image = await buildImage(engine, "webmail");

  const dir = await scope.dir("semail-webmail-autoconfig-");
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  await install(LIVE_AND_PENDING, path.join(dir, "webmail", "autoconfig"));
  const cert = await selfSignedCertificate(NAME);
  t.after(() => cert.cleanup());
  const network = await scope.network();
  const id = await scope.run([
    "--network",
    network,
    "-v",
    `${dir}/webmail:/etc/semail/webmail:ro`,
    "-v",
    `${cert.certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${cert.keyFile}:/etc/semail/tls/key.pem:ro`,
    // Nothing here logs in: Dovecot and the submission need not exist.
    "-e",
    "WEBMAIL_IMAP=semail-imap:993",
    "-e",
    "WEBMAIL_SMTP=semail-outbound:587",
    "--health-interval=1h",
    image,
  ]);
  const host = await scope.address(id, network);
  const autoconfig = (url: string, asked: string) => get(url, url.startsWith("https:") ? cert.cert : undefined, asked);
  await until(
    () =>
      autoconfig(`http://${host}/mail/config-v1.1.xml`, "autoconfig.alice.semail.test").then(
        (a) => a.status === 200,
        () => false,
      ),
    "autoconfig on port 80",
    60_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${await scope.logs(id)}`);
  });

  // What Thunderbird asks first, and what other programs ask: both paths, by host or by address, on 80 and 443.
  const asked = {
    "http autoconfig.<domain>": [
      `http://${host}/mail/config-v1.1.xml?emailaddress=alice%40alice.semail.test`,
      "autoconfig.alice.semail.test",
      "alice.semail.test",
    ],
    "http by host only": [`http://${host}/mail/config-v1.1.xml`, "autoconfig.ALICE.semail.test", "alice.semail.test"],
    "http .well-known, by address": [
      `http://${host}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=dave@example.org`,
      `mx.${DOMAIN}`,
      "example.org",
    ],
    "https .well-known": [
      `https://${host}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40alice.semail.test`,
      NAME,
      "alice.semail.test",
    ],
    "https autoconfig path": [
      `https://${host}/mail/config-v1.1.xml?emailaddress=dave%40example.org`,
      NAME,
      "example.org",
    ],
  } as const;
  for (const [name, [url, hostHeader, domain]] of Object.entries(asked)) {
    const answer = await autoconfig(url, hostHeader);
    assert.equal(answer.status, 200, `${name}: ${answer.status} ${answer.headers.location ?? answer.body}`);
    assert.equal(answer.headers["content-type"], "application/xml; charset=utf-8", name);
    const config = await parseAutoconfig(answer.body);
    assert.equal(config.provider, DOMAIN, name);
    assert.deepEqual(config.domains, [domain], name);
    assert.deepEqual(
      [...config.incoming, ...config.outgoing].map(
        (s) => `${s.type} ${s.hostname}:${s.port} ${s.socketType} ${s.username}`,
      ),
      [
        "imap mx.semail.test:993 SSL %EMAILADDRESS%",
        "imap mx.semail.test:143 STARTTLS %EMAILADDRESS%",
        "pop3 mx.semail.test:995 SSL %EMAILADDRESS%",
        "smtp mx.semail.test:465 SSL %EMAILADDRESS%",
        "smtp mx.semail.test:587 STARTTLS %EMAILADDRESS%",
      ],
      name,
    );
  }

  // Anything else on 80 still goes to HTTPS, autoconfig.<domain> included.
  for (const other of ["/", "/mail/", "/mail/config-v1.1.xml.bak", "/.well-known/autoconfig/"]) {
    const answer = await autoconfig(`http://${host}${other}`, "autoconfig.alice.semail.test");
    assert.equal(answer.status, 301, other);
    assert.equal(answer.headers.location, `https://autoconfig.alice.semail.test${other}`);
  }

  // No live mailbox on the domain (none, a pending claim, an address that tries to climb out): 404, saying why.
  for (const [url, hostHeader] of [
    [`http://${host}/mail/config-v1.1.xml`, "autoconfig.other.example"],
    [`http://${host}/mail/config-v1.1.xml`, "autoconfig.carol.example"],
    [`http://${host}/mail/config-v1.1.xml?emailaddress=alice%40other.example`, "autoconfig.alice.semail.test"],
    [`http://${host}/mail/config-v1.1.xml?emailaddress=x%40..%2F..%2Fwebmail%2Faddresses`, "x"],
    [`https://${host}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=carol%40carol.example`, NAME],
  ] as const) {
    const answer = await autoconfig(url, hostHeader);
    assert.equal(answer.status, 404, `${url} (${hostHeader})`);
    assert.equal(answer.headers["content-type"], "text/plain; charset=utf-8");
    assert.match(answer.body, /^"[a-z0-9.-]*" is not a mail domain served here: set up your mail program by hand/);
  }

  // The list changes (dave gone, erin added): the next install is served at once, no restart.
  await install(
    "mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n  - {owner: erin, address: erin@erin.semail.test}\n",
    path.join(dir, "webmail", "autoconfig"),
  );
  const erin = await autoconfig(`http://${host}/mail/config-v1.1.xml`, "autoconfig.erin.semail.test");
  assert.equal(erin.status, 200, erin.body);
  assert.deepEqual((await parseAutoconfig(erin.body)).domains, ["erin.semail.test"]);
  assert.equal(
    (await autoconfig(`http://${host}/mail/config-v1.1.xml?emailaddress=dave%40example.org`, "x")).status,
    404,
    "a domain gone is no longer answered",
  );
});
