// The MTA-STS policy hosts' own certificates served by the webmail image's real nginx, by SNI,
// against Pebble, every challenge really checked: `semail cert`'s host certificates (the stack's
// policyHostCertificates for a users list with a subdomain mailbox and two external domains)
// get the subdomain's name by DNS-01 in the test's named and an external domain's by HTTP-01
// answered by this nginx on port 80 (Pebble's check connects to the container); nginx reloads
// as the VM's post-renew.sh has it; then a client trusting only Pebble's root fetches each
// https://mta-sts.<domain>/.well-known/mta-sts.txt as a sender does (RFC 8461 section 3.3) and
// gets the policy over the host's own certificate, while the webmail's name still gets the main
// certificate; the external domain whose name does not point here is served the main one, which
// a sender refuses for that name, as its status says.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { connect } from "node:tls";
import { mtaStsInstallScript } from "../../../components/webmail-server.ts";
import { parseSettings } from "../../../config/settings.ts";
import { policyHostCertificates } from "../../../config/stack/acme-stack-settings.ts";
import { mtaStsFiles, mtaStsPolicy } from "../../../config/stack/transport-security.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import {
  renewCertificate,
  renewHostCertificates,
  withChallengeRecords,
  type ChallengeRecord,
} from "../../../services/acme/index.ts";
import { IMAGE_ACME_DIR } from "../../../services/webmail/image-templates.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { until } from "../../../testkit/until.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { startPebble } from "../../helpers/pebble.ts";
import { get, WEBMAIL_NAME as NAME } from "./https-client.ts";
import { runInstallScript } from "./install-script.ts";

const DOMAIN = "semail.test";
/** A label of 63 characters, the most DNS allows: its policy host is past nginx's default hash bucket. */
const LONG = `l${"o".repeat(61)}g`;
const USERS = `mailboxes:
  - {owner: alice, address: alice@alice.semail.test}
  - {owner: lena, address: lena@${LONG}.semail.test}
  - {owner: carol, address: carol@carol.example}
  - {owner: dave, address: dave@dave.example}
`;
const TRANSPORT = { mtaStsMode: "enforce", mtaStsMaxAge: 604800 } as const;
/** What Pebble's HTTP-01 check connects to: the webmail's plain port. */
const HTTP_PORT = 80;

/**
 * The certificate nginx shows for SNI `name`, verified for it against `ca` alone (a fresh
 * connection: no session resumed), or the client's refusal ("refused: ...").
 */
function servedFingerprint(host: string, name: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port: 443, servername: name, ca, timeout: 10_000 }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    // `on`, not `once`: a socket may report more than one error, and a second unheard one would
    // end the test file.
    socket.on("error", (err: Error) => resolve(`refused: ${err.message}`));
    socket.once("timeout", () => socket.destroy(new Error(`no TLS answer for ${name}`)));
  });
}

test("the webmail's nginx serves each policy host's own certificate from `semail cert` by SNI, the webmail's name the main one; a host without one falls back to the main certificate", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const image = await buildImage(engine, "webmail");
  const dir = await scope.dir("semail-webmail-policy-hosts-");

  // Our zone (the subdomain's policy host an alias of the apex's, as zone-file.ts has it) and
  // the external owners' zones, pointed at the container once it has an address.
  const zone = zoneText(DOMAIN, [
    "mta-sts IN A 127.0.0.1",
    "mta-sts.alice IN CNAME mta-sts",
    `mta-sts.${LONG} IN CNAME mta-sts`,
  ]);
  const external = (address: string) => [
    { name: "carol.example", text: zoneText("carol.example", [`mta-sts IN A ${address}`]) },
    { name: "dave.example", text: zoneText("dave.example", ["mta-sts IN A 127.0.0.9"]) },
  ];
  let pointedAt = "127.0.0.9";
  const named = await startTestNamed([{ name: DOMAIN, text: zone }, ...external(pointedAt)]);
  t.after(() => named.stop());
  const pebble = await startPebble(dir, named.server, HTTP_PORT);
  t.after(() => pebble.stop());
  const dns01 = async (records: readonly ChallengeRecord[]) =>
    named.reload([{ name: DOMAIN, text: withChallengeRecords(zone, DOMAIN, records) }, ...external(pointedAt)]);

  const list = parseUsersList(USERS, { managedDomain: DOMAIN, defaultSize: 1024 ** 3, minSize: 1024 ** 2 });
  const mainNames = [NAME, `mta-sts.${DOMAIN}`];
  const stateDir = path.join(dir, "acme");
  const settings = parseSettings(
    {
      managedDomain: DOMAIN,
      tls: { cert: path.join(dir, "tls", "cert.pem"), key: path.join(dir, "tls", "key.pem") },
      acme: {
        directoryUrl: pebble.directoryUrl,
        directoryCa: pebble.directoryCa,
        accountKey: path.join(dir, "account.key"),
        email: `postmaster@${DOMAIN}`,
        stateDir,
        webStateDir: IMAGE_ACME_DIR,
        names: mainNames,
        hosts: policyHostCertificates(list.domains(), DOMAIN, "dns-01", mainNames),
      },
      log: { level: "silent" },
    },
    "test",
  );
  const logger = silentLogger();
  // The main certificate first: nginx starts with it.
  const main = await renewCertificate({ settings, logger, dns01, pollMs: 100 });
  assert.equal(main.outcome, "issued", main.error ?? "");
  const mainFingerprint = new X509Certificate(await readFile(settings.tls.cert!)).fingerprint256;

  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  await runInstallScript(
    mtaStsInstallScript(mtaStsFiles(list.domains(), DOMAIN, TRANSPORT)),
    path.join(dir, "webmail", "mta-sts"),
  );
  const network = await scope.network();
  const id = await scope.run([
    ...["--network", network],
    ...["-v", `${dir}/webmail:/etc/semail/webmail:ro`],
    ...["-v", `${settings.tls.cert}:/etc/semail/tls/cert.pem:ro`],
    ...["-v", `${settings.tls.key}:/etc/semail/tls/key.pem:ro`],
    ...["-v", `${stateDir}:${IMAGE_ACME_DIR}:ro`],
    ...["-e", "WEBMAIL_IMAP=semail-imap:993", "-e", "WEBMAIL_SMTP=semail-outbound:587"],
    "--health-interval=1h",
    image,
  ]);
  const host = await scope.address(id, network);
  pointedAt = host;
  await named.reload([{ name: DOMAIN, text: zone }, ...external(pointedAt)]);

  // As a sender fetches a policy: SNI and Host mta-sts.<domain>, Pebble's root the only anchor.
  const policy = (domain: string) => get(`https://${host}/.well-known/mta-sts.txt`, pebble.root, `mta-sts.${domain}`);
  await until(
    () =>
      get(`https://${host}/`, pebble.root).then(
        (a) => a.status === 200,
        () => false,
      ),
    "the webmail on 443 with the main certificate",
    60_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${await scope.logs(id)}`);
  });
  // Before any host certificate: the policy hosts get the main one, which does not name them.
  assert.match(await servedFingerprint(host, "mta-sts.carol.example", pebble.root), /^refused: .*altnames/);

  /** The pids of nginx's workers in the container. */
  const nginxWorkers = async () =>
    (
      await engine.docker([
        "exec",
        id,
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do case $(tr '\\0' ' ' < $p/cmdline 2>/dev/null) in 'nginx: worker process'*) echo ${p#/proc/};; esac; done",
      ])
    )
      .split("\n")
      .filter(Boolean);
  const workersBefore = await nginxWorkers();
  assert.equal(workersBefore.length, 1, "one worker");

  // `semail cert`'s run for the hosts, reloading nginx the way post-renew.sh does.
  const reloads: string[] = [];
  const hosts = await renewHostCertificates({
    settings,
    logger,
    dns01,
    pollMs: 100,
    reloads: [
      {
        name: "nginx",
        // As post-renew.sh (components/acme-certificate.ts): the entrypoint hands SIGHUP to nginx.
        run: async () => reloads.push(await engine.docker(["kill", "--signal", "HUP", id])),
      },
    ],
  });
  const outcomes = Object.fromEntries(hosts.hosts.map((h) => [h.id, h.outcome]));
  assert.deepEqual(
    outcomes,
    { subdomains: "issued", "carol.example": "issued", "dave.example": "failed" },
    `${hosts.hosts.map((h) => `${h.id}: ${h.error ?? "ok"}`).join("\n")}\n${pebble.output().slice(-2000)}`,
  );
  assert.equal(reloads.length, 1, "nginx told once");
  // A graceful reload: the old worker (old configuration, main certificate only) takes new
  // connections until it has heard the master; wait until a new one serves alone.
  await until(
    async () => {
      const now = await nginxWorkers();
      return now.length === 1 && !workersBefore.includes(now[0]!);
    },
    "one new nginx worker after the reload",
    30_000,
  );

  // nginx picks up the new server names and certificates (its reload is not synchronous).
  const expected = mtaStsPolicy(DOMAIN, TRANSPORT);
  for (const domain of ["carol.example", "alice.semail.test", `${LONG}.semail.test`]) {
    await until(
      async () => !(await servedFingerprint(host, `mta-sts.${domain}`, pebble.root)).startsWith("refused"),
      `https://mta-sts.${domain}/ with its own certificate`,
      30_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await scope.logs(id)}`);
    });
    const answer = await policy(domain);
    assert.equal(answer.body, expected, domain);
    const own = new X509Certificate(
      await readFile(
        path.join(stateDir, "hosts", domain === "carol.example" ? "carol.example" : "subdomains", "fullchain.pem"),
      ),
    );
    assert.equal(await servedFingerprint(host, `mta-sts.${domain}`, pebble.root), own.fingerprint256, domain);
    assert.notEqual(own.fingerprint256, mainFingerprint);
  }
  // The webmail's own name: the main certificate, as before.
  assert.equal((await get(`https://${host}/`, pebble.root)).status, 200);
  assert.equal(
    await servedFingerprint(host, NAME, pebble.root),
    mainFingerprint,
    "the main name keeps the main certificate",
  );
  // The managed domain's policy host is on the main certificate.
  assert.equal((await policy(DOMAIN)).body, expected);
  assert.equal(await servedFingerprint(host, `mta-sts.${DOMAIN}`, pebble.root), mainFingerprint);
  // dave's order failed: his name falls to the main certificate, which a sender refuses for it.
  assert.match(await servedFingerprint(host, "mta-sts.dave.example", pebble.root), /^refused: .*altnames/);
  assert.deepEqual(hosts.hosts.find((h) => h.id === "dave.example")?.served, []);
});
