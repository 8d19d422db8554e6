// The certificate manager against Pebble on loopback, for real: DNS-01 with the challenge TXT
// published in the test's own named (Pebble asks it, nothing else), the certificate installed
// where the inbound daemon reads it, then Python's ssl verifying it on the daemon's implicit-TLS
// and STARTTLS listeners with Pebble's root as the only trust anchor; a renewal by the threshold
// served with no restart while a session opened before it goes on; a renewal whose challenge is
// not published keeps the old certificate and says so; HTTP-01 through the responder; and DNS-01
// the VM's way: the settings components/acme-certificate.ts writes, `semail cert renew` running
// install-zone.sh on the zone as the program installs it, and rndc reloading the same named.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { startInbound } from "../../../mailservers/inbound/daemon.ts";
import {
  readCertificateStatus,
  renewCertificate,
  serveHttpChallenges,
  withChallengeRecords,
  type ChallengeRecord,
} from "../../../services/acme/index.ts";
import { tempDir, tempDirForSuite } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { parse, stringify } from "yaml";
import {
  acmeRndcConf,
  acmeSettingsYaml,
  IMAGE_INSTALL_ZONE,
  RNDC_KEY_NAME,
  type AcmeZone,
} from "../../../components/acme-certificate.ts";
import { renderNamedConfStanza, renderZone } from "../../../config/stack/zone-file.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { freePort, startPebble, type RunningPebble } from "../../helpers/pebble.ts";
import { provision } from "../../mailservers/inbound/fixture.ts";

const DOMAIN = "semail.test";
const NAMES = ["mx", "imap", "webmail", "autoconfig"].map((l) => `${l}.${DOMAIN}`);
const ZONE = zoneText(DOMAIN, [
  "mx IN A 127.0.0.1",
  "imap IN A 127.0.0.1",
  "webmail IN A 127.0.0.1",
  "autoconfig IN A 127.0.0.1",
]);
const DAY = 86_400_000;

/**
 * Connects as a mail program would, trusting only `caFile`: implicit TLS, or STARTTLS after
 * EHLO; prints the serial of the certificate it verified for `name`.
 */
const PY_CHECK = `
import socket, ssl, sys
ca, port, mode, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "starttls":
    f = sock.makefile("rb")
    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line
    reply()
    sock.sendall(b"EHLO client.test\\r\\n"); reply()
    sock.sendall(b"STARTTLS\\r\\n"); assert reply().startswith(b"220"), "STARTTLS refused"
tls = ctx.wrap_socket(sock, server_hostname=name)
print(tls.getpeercert()["serialNumber"])
tls.close()
`;

async function pythonSerial(ca: string, port: number, mode: "tls" | "starttls", name = "mx.semail.test") {
  const { stdout } = await promisify(execFile)("python3", ["-c", PY_CHECK, ca, String(port), mode, name], {
    timeout: 30_000,
  });
  return stdout.trim();
}

/** The serial of a PEM certificate (the leaf, first in the chain), as Python prints it. */
async function serialOf(certFile: string): Promise<string> {
  const { X509Certificate } = await import("node:crypto");
  return new X509Certificate(await readFile(certFile, "utf8")).serialNumber.toUpperCase();
}

const suite = tempDirForSuite("semail-acme-");
/** The VM's named.conf.local: install-zone.sh adds the managed zone's stanza to it. */
const namedConfLocal = () => join(suite.path, "named.conf.local");
/** named's control channel, as Debian's bind9 has it on 127.0.0.1:953 (here on a free port). */
let controls: { keyFile: string; keyName: string; port: number };
let named: RunningNamed;
let pebble: RunningPebble;
let httpPort: number;
let rootFile: string;
/** Every challenge set named was given, in order. */
const published: ChallengeRecord[][] = [];

before(async () => {
  const key = await promisify(execFile)("tsig-keygen", [RNDC_KEY_NAME], { timeout: 10_000 });
  controls = { keyFile: join(suite.path, "rndc.key"), keyName: RNDC_KEY_NAME, port: await freePort() };
  await writeFile(controls.keyFile, key.stdout, { mode: 0o600 });
  await writeFile(namedConfLocal(), "");
  named = await startTestNamed([{ name: DOMAIN, text: ZONE }], { controls, includes: [namedConfLocal()] });
  httpPort = await freePort();
  pebble = await startPebble(suite.path, named.server, httpPort);
  rootFile = join(suite.path, "pebble-root.pem");
  await writeFile(rootFile, pebble.root);
});

after(async () => {
  await pebble?.stop();
  await named?.stop();
});

/** DNS-01 as local mode does it: the challenge lines added to the managed zone, named reloaded. */
async function publishInNamed(records: readonly ChallengeRecord[]): Promise<void> {
  published.push([...records]);
  await named.reload([{ name: DOMAIN, text: withChallengeRecords(ZONE, DOMAIN, records) }]);
}

function settingsIn(dir: string, acme: Record<string, unknown> = {}): Settings {
  return parseSettings(
    {
      hostname: "mx.semail.test",
      managedDomain: DOMAIN,
      users: join(dir, "users.yaml"),
      tls: { cert: join(dir, "tls", "fullchain.pem"), key: join(dir, "tls", "privkey.pem") },
      inbound: { listen: ["127.0.0.1:0", "127.0.0.1:0/tls"], mailRoot: join(dir, "mail") },
      acme: {
        directoryUrl: pebble.directoryUrl,
        directoryCa: pebble.directoryCa,
        accountKey: join(dir, "acme", "account.key"),
        stateDir: join(dir, "acme", "state"),
        email: "postmaster@semail.test",
        ...acme,
      },
      log: { level: "silent" },
    },
    "test",
  );
}

test("DNS-01 in our own named: issued, installed, verified by Python against Pebble's root on the daemon's TLS listeners; renewed by the threshold and served with no restart; a failed renewal keeps the old one", async (t) => {
  const dir = await tempDir(t, "semail-acme-dns-");
  const settings = settingsIn(dir);
  const logger = silentLogger();

  const started = Date.now();
  const first = await renewCertificate({ settings, logger, dns01: publishInNamed, pollMs: 100 });
  t.diagnostic(`first issuance (DNS-01, 4 names): ${Date.now() - started} ms`);
  assert.equal(first.outcome, "issued", first.error ?? "");
  assert.deepEqual([...first.certificate!.names].sort(), [...NAMES].sort());
  // Named really served the TXT records Pebble checked: one per name, and none left after.
  const asked = published.flat().map((r) => r.name);
  for (const name of NAMES) assert.ok(asked.includes(`_acme-challenge.${name}`), `no TXT published for ${name}`);
  assert.deepEqual(published.at(-1), [], "the challenge records are taken out again");
  assert.equal((await readFile(settings.acme.accountKey, "utf8")).includes("PRIVATE KEY"), true);

  // The inbound daemon reads the installed files, as it would on the VM.
  await writeFile(settings.users, "mailboxes: []\n");
  await provision(settings.inbound.mailRoot, []);
  const daemon = await startInbound(settings, { logger, limits: { closeTimeoutMs: 200 } });
  t.after(() => daemon.stop());
  const plain = daemon.addresses.find((a) => !a.implicitTls)!.boundPort;
  const implicit = daemon.addresses.find((a) => a.implicitTls)!.boundPort;
  const firstSerial = await serialOf(settings.tls.cert!);
  assert.equal(await pythonSerial(rootFile, implicit, "tls"), firstSerial);
  assert.equal(await pythonSerial(rootFile, plain, "starttls", "imap.semail.test"), firstSerial);

  // A session opened before the renewal (implicit TLS, greeted).
  const open: TLSSocket = tlsConnect({
    host: "127.0.0.1",
    port: implicit,
    ca: pebble.root,
    servername: "mx.semail.test",
  });
  t.after(() => open.destroy());
  const lines: string[] = [];
  open.on("data", (d: Buffer) => lines.push(d.toString()));
  await new Promise<void>((resolve, reject) => open.once("secureConnect", resolve).once("error", reject));
  await until(() => /^220 /m.test(lines.join("")), "the greeting on the session opened before the renewal");

  // 70 days on, less than 30 days are left: due by the threshold, renewed, handed to the daemon.
  const later = { now: () => Date.now() + 70 * DAY, at: () => () => undefined };
  const current = await renewCertificate({ settings, logger, dns01: publishInNamed, pollMs: 100 });
  assert.equal(current.outcome, "current", "not due today");
  const renewStarted = Date.now();
  const renewed = await renewCertificate({
    settings,
    logger,
    dns01: publishInNamed,
    pollMs: 100,
    clock: later,
    reloads: [{ name: "inbound", run: () => daemon.reloadTls() }],
  });
  t.diagnostic(`renewal by threshold, installed and reloaded: ${Date.now() - renewStarted} ms`);
  assert.equal(renewed.outcome, "issued", renewed.error ?? "");
  const secondSerial = await serialOf(settings.tls.cert!);
  assert.notEqual(secondSerial, firstSerial);
  assert.equal(await pythonSerial(rootFile, implicit, "tls"), secondSerial, "the new certificate, no restart");
  assert.equal(await pythonSerial(rootFile, plain, "starttls"), secondSerial);
  // The session opened before it still talks.
  open.write("NOOP\r\n");
  await until(() => /^250 /m.test(lines.join("")), "250 to NOOP on the session opened before the renewal");

  // A renewal whose challenge never reaches named fails at Pebble's check: the installed
  // certificate and key stay as they were, and the status says why.
  const keyBefore = await readFile(settings.tls.key!, "utf8");
  const failed = await renewCertificate({
    settings,
    logger,
    dns01: async () => undefined,
    pollMs: 100,
    force: true,
  });
  assert.equal(failed.outcome, "failed");
  t.diagnostic(`the failed renewal: ${failed.error}`);
  assert.match(failed.error ?? "", /_acme-challenge|TXT|dns/i, "Pebble's own check failed");
  assert.equal(await serialOf(settings.tls.cert!), secondSerial);
  assert.equal(await readFile(settings.tls.key!, "utf8"), keyBefore);
  const status = await readCertificateStatus(settings.acme.stateDir);
  assert.equal(status?.outcome, "failed");
  assert.equal(status?.certificate?.notAfter, renewed.certificate?.notAfter, "the status names the certificate kept");
  assert.equal(await pythonSerial(rootFile, implicit, "tls"), secondSerial);
});

test("HTTP-01: the CA fetches the key authorization from our responder on the port it checks", async (t) => {
  const dir = await tempDir(t, "semail-acme-http-");
  const settings = settingsIn(dir, { challenge: "http-01", names: ["mx.semail.test", "webmail.semail.test"] });
  const responder = await serveHttpChallenges(settings.acme.stateDir, "127.0.0.1", httpPort);
  t.after(() => responder.close());
  const started = Date.now();
  const status = await renewCertificate({ settings, logger: silentLogger(), pollMs: 100 });
  t.diagnostic(`issuance by HTTP-01 (2 names): ${Date.now() - started} ms`);
  assert.equal(status.outcome, "issued", status.error ?? "");
  assert.deepEqual([...status.certificate!.names].sort(), ["mx.semail.test", "webmail.semail.test"]);
});

test("semail cert renew: from the settings file, HTTP-01, the reload commands run after the issuance, then status", async (t) => {
  const dir = await tempDir(t, "semail-acme-cli-");
  const settings = settingsIn(dir, { challenge: "http-01", names: ["mx.semail.test"] });
  const responder = await serveHttpChallenges(settings.acme.stateDir, "127.0.0.1", httpPort);
  t.after(() => responder.close());
  const marker = join(dir, "reloaded");
  const config = join(dir, "semail.yaml");
  await writeFile(
    config,
    stringify({
      managedDomain: DOMAIN,
      tls: settings.tls,
      acme: {
        directoryUrl: pebble.directoryUrl,
        directoryCa: pebble.directoryCa,
        accountKey: settings.acme.accountKey,
        stateDir: settings.acme.stateDir,
        challenge: "http-01",
        names: ["mx.semail.test"],
        reload: [["sh", "-c", `echo reloaded >> ${marker}`]],
      },
      log: { level: "silent" },
    }),
  );
  const semail = (...args: string[]) =>
    promisify(execFile)(process.execPath, [repoPath("bin/semail.mjs"), "cert", ...args, "--config", config], {
      timeout: 120_000,
    });
  const issued = JSON.parse((await semail("renew")).stdout) as { outcome: string; certificate: { names: string[] } };
  assert.equal(issued.outcome, "issued");
  assert.deepEqual(issued.certificate.names, ["mx.semail.test"]);
  assert.equal(await readFile(marker, "utf8"), "reloaded\n");
  const again = JSON.parse((await semail("renew")).stdout) as { outcome: string };
  assert.equal(again.outcome, "current");
  assert.equal(await readFile(marker, "utf8"), "reloaded\n", "no reload when nothing was issued");
  assert.equal(JSON.parse((await semail("status")).stdout).outcome, "current");
  assert.equal(await pythonSerial(rootFile, await tlsServer(t, settings), "tls"), await serialOf(settings.tls.cert!));
});

/** A plain TLS server on the installed files (for the CLI case, which starts no daemon). */
async function tlsServer(t: { after(fn: () => unknown): unknown }, settings: Settings): Promise<number> {
  const { createServer } = await import("node:tls");
  const server = createServer(
    {
      cert: await readFile(settings.tls.cert!, "utf8"),
      key: await readFile(settings.tls.key!, "utf8"),
    },
    (socket) => socket.end(),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}

/** Runs `bash install-zone.sh ARGS` with `zone` on stdin, as the program's DnsZone install does. */
function installZone(script: string, args: readonly string[], zone: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [script, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`install-zone.sh: ${stderr || err.message}`)) : resolve(stdout),
    );
    child.stdin?.end(zone);
  });
}

// Last in the file: the zone it adds to named stays until named stops.
test("DNS-01 the VM's way: the settings the component writes, install-zone.sh and rndc on the program's zone; a wildcard issued, the zone clean after", async (t) => {
  const vmDomain = "semail-vm.test";
  const dir = await tempDir(t, "semail-acme-vm-");
  const configDir = join(dir, "etc-semail-acme");
  await mkdir(configDir, { recursive: true });
  // The zone as the program renders it, installed as DnsZone does: stanza, include, rndc reconfig.
  const zone: AcmeZone = { dir: join(suite.path, "bind-semail"), rndcKey: controls.keyFile, rndcPort: controls.port };
  const zoneFile = join(zone.dir, `db.${vmDomain}`);
  const rndcConf = join(configDir, "rndc.conf");
  await writeFile(rndcConf, acmeRndcConf(zone)); // what the component's timer unit writes
  const stanza = Buffer.from(renderNamedConfStanza(vmDomain, zoneFile)).toString("base64");
  const installed = renderZone({ domain: vmDomain, serial: 1, ipv4: "127.0.0.1", mailboxDomains: [] });
  const script = repoPath("assets/host/install-zone.sh");
  await installZone(
    script,
    [
      vmDomain,
      "--zone-dir",
      zone.dir,
      "--named-conf",
      namedConfLocal(),
      "--stanza-b64",
      stanza,
      "--rndc-conf",
      rndcConf,
    ],
    installed,
  );
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([named.server]);
  const servedSerial = async () => (await resolver.resolveSoa(vmDomain)).serial;
  const serialIn = async () => Number(/(\d+) ; serial$/m.exec(await readFile(zoneFile, "utf8"))![1]);
  const firstSerial = await serialIn();
  assert.equal(await servedSerial(), firstSerial, "install-zone.sh returned once named served the zone");

  // What components/acme-certificate.ts writes to the VM: the settings and the account key
  // (the secret, PKCS#8 as `openssl genpkey` makes it).
  const args = {
    names: [`mx.${vmDomain}`, `*.${vmDomain}`],
    directoryUrl: pebble.directoryUrl,
    email: `postmaster@${vmDomain}`,
    challenge: "dns-01" as const,
    zone,
    configDir,
    tlsCert: join(dir, "tls", "fullchain.pem"),
    tlsKey: join(dir, "tls", "privkey.pem"),
    stateDir: join(dir, "state"),
    managedDomain: vmDomain,
  };
  const settings = parse(acmeSettingsYaml(args));
  assert.deepEqual(settings.acme.installZone, [IMAGE_INSTALL_ZONE, "--zone-dir", zone.dir, "--rndc-conf", rndcConf]);
  assert.equal(settings.acme.zoneFile, zoneFile);
  // The image's copy of install-zone.sh is this checkout's, executable (the Dockerfile); and
  // the test CA's HTTPS is trusted, as the image trusts Let's Encrypt's.
  const imageCopy = join(dir, "install-zone.sh");
  await copyFile(script, imageCopy);
  await chmod(imageCopy, 0o755);
  settings.acme.installZone[0] = imageCopy;
  settings.acme.directoryCa = pebble.directoryCa;
  settings.log = { level: "silent" };
  const config = join(configDir, "semail.yaml");
  await writeFile(config, stringify(settings));
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(settings.acme.accountKey, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });

  // The timer's command: `semail cert renew --config <configDir>/semail.yaml`.
  const started = Date.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [repoPath("bin/semail.mjs"), "cert", "renew", "--config", config],
    { timeout: 180_000 },
  ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(
      `semail cert renew: ${err.stdout ?? ""}${err.stderr ?? err.message}\n${pebble.output().slice(-3000)}`,
    );
  });
  t.diagnostic(
    `issuance by DNS-01 through install-zone.sh and rndc (2 names, one a wildcard): ${Date.now() - started} ms`,
  );
  const status = JSON.parse(stdout) as { outcome: string; error?: string; certificate?: { names: string[] } };
  assert.equal(status.outcome, "issued", status.error ?? "");
  assert.deepEqual([...status.certificate!.names].sort(), [`*.${vmDomain}`, `mx.${vmDomain}`]);
  const { X509Certificate } = await import("node:crypto");
  const issued = new X509Certificate(await readFile(join(configDir, "live", "fullchain.pem"), "utf8"));
  assert.ok(issued.checkHost(`imap.${vmDomain}`), "the wildcard covers a name under the domain");

  // The records went in and out again through install-zone.sh: two new serials, named serving
  // the last, the zone as the program installed it but for the serial.
  const lastSerial = await serialIn();
  assert.ok(lastSerial >= firstSerial + 2, `serial ${firstSerial} -> ${lastSerial}: one install to add, one to remove`);
  assert.equal(await servedSerial(), lastSerial);
  const strip = (text: string) => text.replace(/^\s*\d+ ; serial$/m, "");
  assert.equal(strip(await readFile(zoneFile, "utf8")), strip(installed));
  await assert.rejects(resolver.resolveTxt(`_acme-challenge.mx.${vmDomain}`), /ENOTFOUND|ENODATA/);
});
