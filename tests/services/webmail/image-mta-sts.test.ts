// The MTA-STS policy from the webmail image on a real Docker engine, as production serves it
// on the VM's 443: the policies written by the Pulumi program's install script
// (components/webmail-server.ts) from the users list, fetched as a sending MTA does (RFC 8461
// section 3.3): https://mta-sts.<domain>/.well-known/mta-sts.txt, the certificate checked for
// that name; a domain not served, or any other host, gets 404; port 80 never serves it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { mtaStsInstallScript } from "../../../components/webmail-server.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { mtaStsFiles, mtaStsPolicy } from "../../../config/stack/transport-security.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { LIVE_AND_PENDING, runInstallScript } from "./install-script.ts";
import { until } from "../../../testkit/until.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { get, WEBMAIL_NAME as NAME } from "./https-client.ts";

const run = promisify(execFile);
const DOMAIN = "semail.test";
const LIST_OPTIONS = { managedDomain: DOMAIN, defaultSize: 1024 ** 3, minSize: 1024 ** 2 };
const TRANSPORT = { mtaStsMode: "enforce", mtaStsMaxAge: 604800 } as const;

/** Writes the policies of `yaml`'s live domains into `dir` as the VM gets them: `sh -s DIR`, the script on stdin. */
function install(yaml: string, dir: string): Promise<void> {
  return runInstallScript(
    mtaStsInstallScript(mtaStsFiles(parseUsersList(yaml, LIST_OPTIONS).domains(), DOMAIN, TRANSPORT)),
    dir,
  );
}

test("the webmail image serves each served domain's MTA-STS policy over HTTPS at mta-sts.<domain>, and nothing else", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const image = await buildImage(engine, "webmail");

  const dir = await scope.dir("semail-webmail-mta-sts-");
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  await install(LIVE_AND_PENDING, path.join(dir, "webmail", "mta-sts"));
  // One certificate naming the webmail and each policy host, as the VM's must (ACME adds them).
  const names = [
    NAME,
    "mta-sts.semail.test",
    "mta-sts.alice.semail.test",
    "mta-sts.example.org",
    "mta-sts.carol.example",
  ];
  const [certFile, keyFile] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", `/CN=${NAME}`],
    ...["-addext", `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`],
  ]);
  const ca = await readFile(certFile, "utf8");
  const network = await scope.network();
  const id = await scope.run([
    "--network",
    network,
    "-v",
    `${dir}/webmail:/etc/semail/webmail:ro`,
    "-v",
    `${certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${keyFile}:/etc/semail/tls/key.pem:ro`,
    "-e",
    "WEBMAIL_IMAP=semail-imap:993",
    "-e",
    "WEBMAIL_SMTP=semail-outbound:587",
    "--health-interval=1h",
    image,
  ]);
  const host = await scope.address(id, network);
  // As a sender fetches it: SNI and Host mta-sts.<domain>, the certificate checked for that name.
  const policy = (domain: string, scheme = "https") =>
    get(`${scheme}://${host}/.well-known/mta-sts.txt`, scheme === "https" ? ca : undefined, `mta-sts.${domain}`);
  await until(
    () =>
      policy("alice.semail.test").then(
        (a) => a.status === 200,
        () => false,
      ),
    "the policy on 443",
    60_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${await scope.logs(id)}`);
  });

  const expected = mtaStsPolicy(DOMAIN, TRANSPORT);
  for (const domain of ["alice.semail.test", "example.org", DOMAIN]) {
    const answer = await policy(domain);
    assert.equal(answer.status, 200, `${domain}: ${answer.body}`);
    assert.equal(answer.headers["content-type"], "text/plain; charset=utf-8", domain);
    assert.equal(answer.body, expected, domain);
    assert.match(answer.body, /^version: STSv1\r\nmode: enforce\r\nmx: mx\.semail\.test\r\nmax_age: 604800\r\n$/);
  }
  // A pending claim's domain, the webmail's own name: no policy. Port 80 only redirects.
  assert.equal((await policy("carol.example")).status, 404, "a pending claim has no policy");
  assert.equal((await get(`https://${host}/.well-known/mta-sts.txt`, ca, NAME)).status, 404, "not on another host");
  const plain = await policy("alice.semail.test", "http");
  assert.equal(plain.status, 301, "never over HTTP");
  assert.equal(plain.headers.location, "https://mta-sts.alice.semail.test/.well-known/mta-sts.txt");

  // The list changes (dave gone): his domain's policy goes with the next install, no restart.
  await install(
    "mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n",
    path.join(dir, "webmail", "mta-sts"),
  );
  assert.equal((await policy("example.org")).status, 404, "a domain gone is no longer served");
  assert.equal((await policy("alice.semail.test")).status, 200);
});
