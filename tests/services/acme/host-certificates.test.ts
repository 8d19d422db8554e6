// The MTA-STS policy hosts' certificates against Pebble on loopback, every challenge really
// checked: a users list with a subdomain mailbox and two external domains gives (by the stack's
// own policyHostCertificates) mta-sts.<label>.<domain> by DNS-01 in the test's named and each
// external domain's mta-sts.<domain> by HTTP-01 on its own. The one whose name does not point
// here fails alone, is left out of the web front's files (so nginx serves it the main
// certificate), says so in the status, and is tried again at the next run; each certificate
// issued verifies against Pebble's root alone for its name. The real nginx serving them by SNI:
// tests/services/webmail/image-policy-hosts.test.ts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:tls";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { acmeSettingsYaml } from "../../../components/acme-certificate.ts";
import { HOST_CERTIFICATES } from "../../../config/sections/acme.ts";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { policyHostCertificates } from "../../../config/stack/acme-stack-settings.ts";
import { parseUsersList } from "../../../config/users-list.ts";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { silentLogger } from "../../../lib/logger.ts";
import {
  readHostCertificatesStatus,
  renewHostCertificates,
  serveHttpChallenges,
  withChallengeRecords,
  type ChallengeRecord,
} from "../../../services/acme/index.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir, tempDirForSuite } from "../../../testkit/temp-dir.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { freePort, startPebble, type RunningPebble } from "../../helpers/pebble.ts";

const DOMAIN = "semail.test";
/** The managed zone as zone-file.ts has it for a subdomain mailbox: mta-sts.<label> an alias of the apex's. */
const ZONE = zoneText(DOMAIN, ["mx IN A 127.0.0.1", "mta-sts IN A 127.0.0.1", "mta-sts.alice IN CNAME mta-sts"]);
/**
 * carol's owner pointed her policy host here (an A record: the test's named, authoritative only,
 * does not follow a CNAME into another zone as a sender's resolver does); dave's points nowhere we answer.
 */
const EXTERNAL = [
  { name: "carol.example", text: zoneText("carol.example", ["mta-sts IN A 127.0.0.1"]) },
  { name: "dave.example", text: zoneText("dave.example", ["mta-sts IN A 127.0.0.9"]) },
];
const USERS = `mailboxes:
  - {owner: alice, address: alice@alice.semail.test}
  - {owner: bob, address: bob@semail.test}
  - {owner: carol, address: carol@carol.example}
  - {owner: dave, address: dave@dave.example}
`;

const suite = tempDirForSuite("semail-acme-hosts-");
let named: RunningNamed;
let pebble: RunningPebble;
let httpPort: number;
const published: ChallengeRecord[][] = [];

before(async () => {
  named = await startTestNamed([{ name: DOMAIN, text: ZONE }, ...EXTERNAL]);
  httpPort = await freePort();
  pebble = await startPebble(suite.path, named.server, httpPort);
});

after(async () => {
  await pebble?.stop();
  await named?.stop();
});

async function publishInNamed(records: readonly ChallengeRecord[]): Promise<void> {
  published.push([...records]);
  await named.reload([{ name: DOMAIN, text: withChallengeRecords(ZONE, DOMAIN, records) }, ...EXTERNAL]);
}

function settingsIn(dir: string): Settings {
  const list = parseUsersList(USERS, { managedDomain: DOMAIN, defaultSize: 1024 ** 3, minSize: 1024 ** 2 });
  return parseSettings(
    {
      managedDomain: DOMAIN,
      users: join(dir, "users.yaml"),
      acme: {
        directoryUrl: pebble.directoryUrl,
        directoryCa: pebble.directoryCa,
        accountKey: join(dir, "acme", "account.key"),
        stateDir: join(dir, "acme", "state"),
        webStateDir: "/var/lib/semail/acme",
        names: [`mx.${DOMAIN}`, `mta-sts.${DOMAIN}`],
        hosts: policyHostCertificates(list.domains(), DOMAIN, "dns-01", [`mx.${DOMAIN}`, `mta-sts.${DOMAIN}`]),
      },
      log: { level: "silent" },
    },
    "test",
  );
}

/** The certificate a TLS client trusting only Pebble's root accepts for `name`, or the error it gives. */
async function verifiedFor(certFile: string, keyFile: string, name: string): Promise<string> {
  const server = createServer({ cert: await readFile(certFile), key: await readFile(keyFile) }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<string>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port, servername: name, ca: pebble.root }, () => {
        resolve(`verified ${socket.getPeerX509Certificate()?.subjectAltName ?? ""}`);
        socket.destroy();
      });
      socket.once("error", (err: Error) => resolve(`refused: ${err.message}`));
    });
  } finally {
    server.close();
  }
}

test("the stack's policy host certificates: the subdomain's by DNS-01 in our zone, each external domain's by HTTP-01 alone; a domain whose name does not point here fails alone and is retried", async (t) => {
  const dir = await tempDir(t, "semail-acme-hosts-");
  const settings = settingsIn(dir);
  assert.deepEqual(settings.acme.hosts, [
    { id: "subdomains", names: ["mta-sts.alice.semail.test"], challenge: "dns-01" },
    { id: "carol.example", names: ["mta-sts.carol.example"], challenge: "http-01" },
    { id: "dave.example", names: ["mta-sts.dave.example"], challenge: "http-01" },
  ]);
  const responder = await serveHttpChallenges(settings.acme.stateDir, "127.0.0.1", httpPort);
  t.after(() => responder.close());
  let reloads = 0;
  const options = {
    settings,
    logger: silentLogger(),
    dns01: publishInNamed,
    pollMs: 100,
    reloads: [{ name: "nginx", run: async () => void reloads++ }],
  };

  const started = Date.now();
  const first = await renewHostCertificates(options);
  t.diagnostic(`three host certificates ordered (one failing): ${Date.now() - started} ms`);
  const byId = new Map(first.hosts.map((h) => [h.id, h]));
  assert.equal(byId.get("subdomains")?.outcome, "issued", byId.get("subdomains")?.error ?? "");
  assert.equal(byId.get("carol.example")?.outcome, "issued", byId.get("carol.example")?.error ?? "");
  assert.equal(byId.get("dave.example")?.outcome, "failed", "dave's name is not ours");
  t.diagnostic(`dave.example: ${byId.get("dave.example")?.error}`);
  assert.match(byId.get("dave.example")?.error ?? "", /mta-sts\.dave\.example/);
  assert.deepEqual(byId.get("dave.example")?.served, [], "served with the main certificate");
  assert.ok(
    published.flat().some((r) => r.name === "_acme-challenge.mta-sts.alice.semail.test"),
    "the subdomain's challenge went into our zone",
  );
  assert.equal(first.changed, true);
  assert.equal(reloads, 1, "the web front reloaded once");

  // Each certificate verifies for its name against Pebble's root alone; its key is 0640.
  const hosts = join(settings.acme.stateDir, HOST_CERTIFICATES.folder);
  for (const [id, name] of [
    ["subdomains", "mta-sts.alice.semail.test"],
    ["carol.example", "mta-sts.carol.example"],
  ] as const) {
    const [cert, key] = [join(hosts, id, "fullchain.pem"), join(hosts, id, "privkey.pem")];
    assert.equal(await verifiedFor(cert, key, name), `verified DNS:${name}`);
    assert.equal((await stat(key)).mode & 0o777, 0o640);
    if (process.getuid?.() === 0) assert.equal((await stat(key)).gid, 33, "www-data's group reads it");
    assert.match(
      await verifiedFor(cert, key, "mx.semail.test"),
      /^refused: .*altnames/i,
      "a host certificate is for its names only",
    );
  }

  // nginx's two files: the names issued, each mapped to its folder as nginx sees it; dave's in neither.
  const names = await readFile(join(hosts, HOST_CERTIFICATES.names), "utf8");
  const map = await readFile(join(hosts, HOST_CERTIFICATES.map), "utf8");
  assert.match(names, /^server_name mta-sts\.alice\.semail\.test mta-sts\.carol\.example;$/m);
  assert.match(map, /^mta-sts\.alice\.semail\.test \/var\/lib\/semail\/acme\/hosts\/subdomains;$/m);
  assert.match(map, /^mta-sts\.carol\.example \/var\/lib\/semail\/acme\/hosts\/carol\.example;$/m);
  assert.doesNotMatch(names + map, /dave/);
  assert.deepEqual(await readHostCertificatesStatus(settings.acme.stateDir), first, "`semail cert status` shows it");

  // The next run: the two issued are current, dave's is tried again (and fails again); nothing
  // changed for nginx, so no reload.
  const carolSerial = new X509Certificate(await readFile(join(hosts, "carol.example", "fullchain.pem"))).serialNumber;
  const second = await renewHostCertificates(options);
  assert.deepEqual(
    second.hosts.map((h) => [h.id, h.outcome]),
    [
      ["subdomains", "current"],
      ["carol.example", "current"],
      ["dave.example", "failed"],
    ],
  );
  assert.equal(second.changed, false);
  assert.equal(reloads, 1);
  assert.equal(
    new X509Certificate(await readFile(join(hosts, "carol.example", "fullchain.pem"))).serialNumber,
    carolSerial,
  );

  // dave's owner fixes his record: the next run issues his alone and nginx reloads.
  EXTERNAL[1] = { name: "dave.example", text: zoneText("dave.example", ["mta-sts IN A 127.0.0.1"], 2) };
  await named.reload([{ name: DOMAIN, text: ZONE }, ...EXTERNAL]);
  const third = await renewHostCertificates(options);
  assert.deepEqual(
    third.hosts.map((h) => [h.id, h.outcome]),
    [
      ["subdomains", "current"],
      ["carol.example", "current"],
      ["dave.example", "issued"],
    ],
    third.hosts.map((h) => h.error ?? "").join(" "),
  );
  assert.equal(reloads, 2);
  assert.match(await readFile(join(hosts, HOST_CERTIFICATES.map), "utf8"), /^mta-sts\.dave\.example /m);

  // carol's mailbox goes: her certificate's folder and names go with it.
  const fewer = {
    ...settings,
    acme: { ...settings.acme, hosts: settings.acme.hosts.filter((h) => h.id !== "carol.example") },
  };
  const fourth = await renewHostCertificates({ ...options, settings: fewer });
  assert.equal(fourth.changed, true);
  assert.doesNotMatch(await readFile(join(hosts, HOST_CERTIFICATES.names), "utf8"), /carol/);
  await assert.rejects(stat(join(hosts, "carol.example")), { code: "ENOENT" });
});

test("semail cert renew from the settings the component writes: the main certificate, then the hosts'; a failed host leaves the exit status 0 and shows in `semail cert status`", async (t) => {
  const dir = await tempDir(t, "semail-acme-hosts-cli-");
  const configDir = join(dir, "etc");
  const settings = parse(
    acmeSettingsYaml({
      names: [`mx.${DOMAIN}`],
      directoryUrl: pebble.directoryUrl,
      email: `postmaster@${DOMAIN}`,
      challenge: "http-01",
      configDir,
      tlsCert: join(dir, "tls", "fullchain.pem"),
      tlsKey: join(dir, "tls", "privkey.pem"),
      stateDir: join(dir, "state"),
      managedDomain: DOMAIN,
      hosts: [
        { id: "carol.example", names: ["mta-sts.carol.example"], challenge: "http-01" },
        { id: "erin.example", names: ["mta-sts.erin.example"], challenge: "http-01" },
      ],
    }),
  );
  settings.acme.directoryCa = pebble.directoryCa;
  settings.log = { level: "silent" };
  await mkdir(configDir, { recursive: true });
  const config = join(configDir, "semail.yaml");
  await writeFile(config, stringify(settings));
  const responder = await serveHttpChallenges(settings.acme.stateDir, "127.0.0.1", httpPort);
  t.after(() => responder.close());
  const semail = (...args: string[]) =>
    promisify(execFile)(process.execPath, [repoPath("bin/semail.mjs"), "cert", ...args, "--config", config], {
      timeout: 120_000,
    });
  // erin.example has no zone here: its name resolves to nothing, its order fails alone.
  const renewed = JSON.parse((await semail("renew")).stdout) as {
    outcome: string;
    hosts: { changed: boolean; hosts: Array<{ id: string; outcome: string; served: string[]; error?: string }> };
  };
  assert.equal(renewed.outcome, "issued");
  assert.deepEqual(
    renewed.hosts.hosts.map((h) => [h.id, h.outcome, h.served]),
    [
      ["carol.example", "issued", ["mta-sts.carol.example"]],
      ["erin.example", "failed", []],
    ],
  );
  assert.match(renewed.hosts.hosts[1]!.error ?? "", /mta-sts\.erin\.example/);
  const status = JSON.parse((await semail("status")).stdout) as typeof renewed;
  assert.deepEqual(
    status.hosts,
    renewed.hosts,
    "`semail cert status` says which host is served without its certificate",
  );
});
