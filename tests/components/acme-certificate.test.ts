// The ACME certificate on the VM under Pulumi's mocks: the account key travels only as a
// secret and lands root-only, `semail cert` gets settings naming the certificate's names and
// the key's place, and the timer runs it in the daemons image with the reloads after an
// issuance (for DNS-01 with the zone's folder, the rndc key and the host's network); the
// stack passes its acme* settings; bad settings are refused with the config key to fix.
// (tests/services/acme/pebble.test.ts gets a certificate from Pebble through these very settings.)
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import {
  AcmeCertificate,
  acmeRndcConf,
  acmeSettingsYaml,
  acmeUnits,
  IMAGE_INSTALL_ZONE,
  validateAcme,
  type AcmeCertificateArgs,
} from "../../components/acme-certificate.ts";
import { ZONE_DIR } from "../../components/dns-zone.ts";
import { findResource, inputsOf, plainOccurrences, record, SECRET_SIG } from "../../testkit/pulumi-mocks/harness.ts";
import { acmeSettings } from "../../config/sections/acme.ts";
import { CAROL, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const KEY = "-----BEGIN PRIVATE KEY-----\nACCOUNTKEYSECRET\n-----END PRIVATE KEY-----\n";

const DNS_ZONE = { dir: "/etc/bind/semail", rndcKey: "/etc/bind/rndc.key" };

function args(over: Partial<AcmeCertificateArgs> = {}): AcmeCertificateArgs {
  return {
    vm: { host: "192.0.2.10", user: "root" },
    image: "sha256:abc",
    names: ["mx.semail.email", "imap.semail.email", "webmail.semail.email", "autoconfig.semail.email"],
    directoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
    email: "postmaster@semail.email",
    challenge: "http-01",
    accountKey: pulumi.secret(KEY),
    configDir: "/etc/semail/acme",
    tlsCert: "/etc/semail/tls/fullchain.pem",
    tlsKey: "/etc/semail/tls/privkey.pem",
    stateDir: "/var/lib/semail/acme",
    managedDomain: "semail.email",
    reload: { hangup: ["semail-inbound", "semail-outbound"], dovecot: "semail-imap", nginx: "semail-webmail" },
    ...over,
  };
}

test("the account key is a secret written root-only; the settings name the certificate's names and the key's place", async () => {
  const { resources } = await record({}, [], () => new AcmeCertificate("acme", args()));
  const key = findResource(resources, "acme-account-key");
  assert.equal(key.parent.endsWith("::acme"), true);
  assert.deepEqual(plainOccurrences(key.inputs, "ACCOUNTKEYSECRET"), [], "the key only inside a secret");
  assert.equal(JSON.stringify(key.inputs.stdin).includes(SECRET_SIG), true);
  const k = inputsOf(resources, "acme-account-key");
  assert.equal(k.stdin, KEY);
  assert.match(k.create, /install -d -m 0700/);
  assert.match(k.create, /umask 077/);
  assert.doesNotMatch(k.create, /ACCOUNTKEYSECRET/);

  const s = inputsOf(resources, "acme-settings");
  const yaml = parse(s.stdin as string);
  // Its own copy, by rename; the timer copies a new pair over the mounted files in place.
  assert.deepEqual(yaml.tls, { cert: "/etc/semail/acme/live/fullchain.pem", key: "/etc/semail/acme/live/privkey.pem" });
  assert.equal(yaml.acme.accountKey, "/etc/semail/acme/account.key");
  assert.deepEqual(yaml.acme.names, args().names);
  assert.equal(yaml.acme.challenge, "http-01");
  // `semail cert` takes that file as it is.
  assert.equal(acmeSettings.parse(yaml.acme).stateDir, "/var/lib/semail/acme");

  const timer = inputsOf(resources, "acme-timer");
  assert.match(timer.stdin, /systemctl enable --now semail-cert\.timer/);
  assert.match(timer.stdin, /sha256:abc/);
  assert.match(timer.delete, /systemctl disable --now semail-cert\.timer/);
  assert.deepEqual(findResource(resources, "acme-timer").dependencies.length > 0, true);
});

test("the timer's service: semail cert in the daemons image with the folders it writes, the reloads only after an issuance", () => {
  const { service, timer, postRenew } = acmeUnits(args(), "sha256:abc");
  const exec = service.split("\n").find((l) => l.startsWith("ExecStart="))!;
  assert.match(exec, / -v \/etc\/semail\/acme:\/etc\/semail\/acme /);
  assert.match(exec, / -v \/var\/lib\/semail\/acme:\/var\/lib\/semail\/acme /);
  assert.doesNotMatch(exec, /\/etc\/semail\/tls/, "the mounted files are never replaced by rename");
  assert.match(exec, /sha256:abc cert renew --config \/etc\/semail\/acme\/semail\.yaml$/);
  assert.match(service, /^ExecStartPost=\/bin\/sh \/etc\/semail\/acme\/post-renew\.sh$/m);
  const post = postRenew;
  assert.match(post, /^grep -q '"outcome": "issued"' \/var\/lib\/semail\/acme\/status\.json \|\| exit 0$/m);
  assert.match(post, /^cat \/etc\/semail\/acme\/live\/fullchain\.pem > \/etc\/semail\/tls\/fullchain\.pem/m);
  assert.match(post, /^\(umask 077; cat \/etc\/semail\/acme\/live\/privkey\.pem > \/etc\/semail\/tls\/privkey\.pem\)/m);
  assert.match(post, /^docker kill --signal HUP semail-inbound semail-outbound$/m);
  assert.match(post, /^docker exec semail-imap doveadm reload$/m);
  assert.match(post, /^docker kill --signal HUP semail-webmail$/m);
  assert.match(timer, /OnUnitActiveSec=12h/);
});

test("bad ACME settings name the config key to fix", async () => {
  assert.deepEqual(validateAcme(args()), []);
  assert.match(validateAcme(args({ names: [] })).join("\n"), /acmeNames: give at least one name/);
  assert.match(
    validateAcme(args({ names: ["*.semail.email"] })).join("\n"),
    /wildcard \*\.semail\.email needs acmeChallenge dns-01/,
  );
  assert.match(validateAcme(args({ names: ["Not A Name"] })).join("\n"), /is not a domain name/);
  assert.match(validateAcme(args({ directoryUrl: "http://x/" })).join("\n"), /acmeDirectoryUrl/);
  assert.match(
    validateAcme(args({ challenge: "dns-01" })).join("\n"),
    /acmeChallenge: dns-01 needs the zone on the VM's named \(semail:dnsProvider bind\)/,
  );
  assert.deepEqual(validateAcme(args({ challenge: "dns-01", zone: DNS_ZONE, names: ["*.semail.email"] })), []);
  assert.match(
    validateAcme(args({ challenge: "dns-01", zone: DNS_ZONE, names: ["mail.example.org"] })).join("\n"),
    /acmeNames: mail\.example\.org is not in the zone semail\.email/,
  );
  await assert.rejects(
    record({}, [], () => new AcmeCertificate("acme", args({ names: [] }))),
    /invalid ACME settings:\n {2}acmeNames/,
  );
});

test("post-renew.sh, run for real by sh: after an issuance the pair is copied over the mounted files in place, then the reloads; otherwise nothing", async (t) => {
  const dir = await tempDir(t, "semail-acme-post-");
  const a = args({
    configDir: join(dir, "acme"),
    stateDir: join(dir, "state"),
    tlsCert: join(dir, "tls", "fullchain.pem"),
    tlsKey: join(dir, "tls", "privkey.pem"),
  });
  const { postRenew } = acmeUnits(a, "sha256:abc");
  for (const sub of ["acme/live", "state", "tls", "bin"]) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, "acme", "live", "fullchain.pem"), "NEW CERT\n");
  await writeFile(join(dir, "acme", "live", "privkey.pem"), "NEW KEY\n");
  await writeFile(a.tlsCert, "OLD CERT\n");
  const inode = (await stat(a.tlsCert)).ino;
  // A stand-in docker that logs what it was asked.
  await writeFile(join(dir, "bin", "docker"), `#!/bin/sh\necho "$*" >> ${join(dir, "docker.log")}\n`, { mode: 0o755 });
  const run = () =>
    promisify(execFile)("sh", ["-c", postRenew], {
      env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin` },
      timeout: 20_000,
    });

  await writeFile(join(dir, "state", "status.json"), '{\n  "outcome": "current"\n}\n');
  await run();
  assert.equal(await readFile(a.tlsCert, "utf8"), "OLD CERT\n", "nothing issued, nothing copied");
  // Only the policy hosts' certificates changed: nginx alone is told.
  await mkdir(join(dir, "state", "hosts"));
  await writeFile(join(dir, "state", "hosts", "status.json"), '{\n  "changed": true\n}\n');
  await run();
  assert.equal(await readFile(a.tlsCert, "utf8"), "OLD CERT\n");
  assert.equal(await readFile(join(dir, "docker.log"), "utf8"), "kill --signal HUP semail-webmail\n");
  await writeFile(join(dir, "state", "hosts", "status.json"), '{\n  "changed": false\n}\n');
  await rm(join(dir, "docker.log"));
  await run();
  await assert.rejects(readFile(join(dir, "docker.log")), { code: "ENOENT" }, "nothing changed, nothing told");
  await writeFile(join(dir, "state", "status.json"), '{\n  "outcome": "issued"\n}\n');
  await run();
  assert.equal(await readFile(a.tlsCert, "utf8"), "NEW CERT\n");
  assert.equal((await stat(a.tlsCert)).ino, inode, "the same file, as a single-file bind mount shows it");
  assert.equal(await readFile(a.tlsKey, "utf8"), "NEW KEY\n");
  assert.equal((await stat(a.tlsKey)).mode & 0o777, 0o600, "a new key file is root-only");
  assert.deepEqual((await readFile(join(dir, "docker.log"), "utf8")).trim().split("\n"), [
    "kill --signal HUP semail-inbound semail-outbound",
    "exec semail-imap doveadm reload",
    "kill --signal HUP semail-webmail",
  ]);
});

test("DNS-01: the timer's container gets the zone's folder, the rndc key read-only and the host's network; the settings name the zone and install-zone.sh", async () => {
  const dns = args({ challenge: "dns-01", zone: DNS_ZONE, names: ["mx.semail.email", "*.semail.email"] });
  const exec = acmeUnits(dns, "sha256:abc")
    .service.split("\n")
    .find((l) => l.startsWith("ExecStart="))!;
  assert.match(exec, / --network host /, "rndc reaches named's control channel on the host's 127.0.0.1");
  assert.match(exec, / -v \/etc\/bind\/semail:\/etc\/bind\/semail /);
  assert.match(exec, / -v \/etc\/bind\/rndc\.key:\/etc\/bind\/rndc\.key:ro /);
  assert.match(exec, / -v \/etc\/semail\/acme:\/etc\/semail\/acme /);
  // HTTP-01 needs none of it.
  const http = acmeUnits(args(), "sha256:abc").service;
  assert.doesNotMatch(http, /--network|\/etc\/bind/);

  const acme = parse(acmeSettingsYaml(dns)).acme;
  assert.equal(acme.zoneFile, "/etc/bind/semail/db.semail.email");
  assert.deepEqual(acme.installZone, [
    IMAGE_INSTALL_ZONE,
    "--zone-dir",
    "/etc/bind/semail",
    "--rndc-conf",
    "/etc/semail/acme/rndc.conf",
  ]);
  assert.equal(IMAGE_INSTALL_ZONE, "/usr/local/lib/semail/install-zone.sh", "where the Dockerfile copies it");
  assert.deepEqual(acmeSettings.parse(acme).names, ["mx.semail.email", "*.semail.email"], "semail cert takes it");
  assert.equal(parse(acmeSettingsYaml(args())).acme.zoneFile, undefined, "HTTP-01 has no zone");

  // rndc's configuration: the host's key, named on the host's loopback, written by the timer's script.
  assert.equal(
    acmeRndcConf(DNS_ZONE).split("\n").slice(1).join("\n"),
    'include "/etc/bind/rndc.key";\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port 953; };\n',
  );
  const { resources } = await record({}, [], () => new AcmeCertificate("acme", dns));
  const timer = inputsOf(resources, "acme-timer").stdin as string;
  assert.match(timer, /include "\/etc\/bind\/rndc\.key";.*> \/etc\/semail\/acme\/rndc\.conf$/ms);
  assert.match(timer, /--network host/);
});

test("the stack: no ACME without the secret; with it, by default mx, autoconfig and mta-sts by DNS-01 in the zone on the VM, from Let's Encrypt, the key a secret", async () => {
  const without = await runStack(usersYaml(CAROL));
  assert.equal(
    without.resources.some((r) => r.type === "semail:infra:AcmeCertificate"),
    false,
  );
  const { resources } = await runStack(usersYaml(CAROL), { acmeAccountKey: KEY });
  const settings = parse(inputsOf(resources, "acme-settings").stdin as string);
  assert.deepEqual(settings.acme.names, ["mx.semail.email", "autoconfig.semail.email", "mta-sts.semail.email"]);
  assert.equal(settings.acme.challenge, "dns-01");
  assert.equal(settings.acme.directoryUrl, "https://acme-v02.api.letsencrypt.org/directory");
  assert.equal(settings.acme.email, "postmaster@semail.email");
  // The zone the DnsZone installs, in the folder the container gets.
  assert.equal(settings.acme.zoneFile, `${ZONE_DIR}/db.semail.email`);
  const timer = inputsOf(resources, "acme-timer").stdin as string;
  assert.match(timer, new RegExp(` -v ${ZONE_DIR}:${ZONE_DIR} `));
  assert.match(timer, / --network host /);
  assert.match(timer, /\/etc\/semail\/tls\/fullchain\.pem/);
  assert.match(timer, /docker kill --signal HUP semail-webmail/);
  // It edits the installed zone, so it comes after the zone's install.
  const acme = findResource(resources, "acme");
  assert.ok(
    acme.dependencies.some((urn) => urn.endsWith("::zone-install")),
    "the certificate depends on the zone's install",
  );
  // The account key is nowhere in plain text, in any resource.
  for (const r of resources) assert.deepEqual(plainOccurrences(r.inputs, "ACCOUNTKEYSECRET"), [], r.name);
  assert.equal(JSON.stringify(findResource(resources, "acme-account-key").inputs.stdin).includes(SECRET_SIG), true);
  assert.equal(inputsOf(resources, "acme-account-key").stdin, KEY);
});

test("the stack: acmeNames, acmeChallenge, acmeDirectoryUrl and acmeEmail reach the VM's settings; http-01 needs the webmail's port 80, dns-01 does not", async () => {
  const { resources } = await runStack(usersYaml(CAROL), {
    acmeAccountKey: KEY,
    acmeNames: "mx.semail.email, *.semail.email",
    acmeDirectoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
    acmeEmail: "hostmaster@semail.email",
  });
  const settings = parse(inputsOf(resources, "acme-settings").stdin as string);
  assert.deepEqual(settings.acme.names, ["mx.semail.email", "*.semail.email"]);
  assert.equal(settings.acme.directoryUrl, "https://acme-staging-v02.api.letsencrypt.org/directory");
  assert.equal(settings.acme.email, "hostmaster@semail.email");

  const http = await runStack(usersYaml(CAROL), { acmeAccountKey: KEY, acmeChallenge: "http-01" });
  const httpSettings = parse(inputsOf(http.resources, "acme-settings").stdin as string);
  assert.equal(httpSettings.acme.challenge, "http-01");
  assert.equal(httpSettings.acme.zoneFile, undefined);
  assert.doesNotMatch(inputsOf(http.resources, "acme-timer").stdin as string, /--network host|\/etc\/bind/);
  await assert.rejects(
    runStack(usersYaml(CAROL), { acmeAccountKey: KEY, acmeChallenge: "http-01", webmailHttpPort: "0" }),
    /semail:acmeChallenge http-01: the CA checks the names on port 80/,
  );
  // DNS-01 without any webmail: issued all the same, and no nginx to reload.
  const bare = await runStack(usersYaml(CAROL), { acmeAccountKey: KEY, webmailPort: "0", webmailHttpPort: "0" });
  const post = inputsOf(bare.resources, "acme-timer").stdin as string;
  assert.match(post, /doveadm reload/);
  assert.doesNotMatch(post, /semail-webmail/);

  // With Gandi the zone is not on the VM: HTTP-01 by default, DNS-01 refused by name.
  const gandi = await runStack(usersYaml(CAROL), { acmeAccountKey: KEY, dnsProvider: "gandi" });
  assert.equal(parse(inputsOf(gandi.resources, "acme-settings").stdin as string).acme.challenge, "http-01");
  await assert.rejects(
    runStack(usersYaml(CAROL), { acmeAccountKey: KEY, dnsProvider: "gandi", acmeChallenge: "dns-01" }),
    /semail:acmeChallenge dns-01 publishes the challenge in the zone on the VM's named, but semail:dnsProvider is gandi/,
  );
});

test("the stack: every served domain's MTA-STS policy host the main names leave out gets a certificate of its own (subdomains by the stack's challenge, external domains by HTTP-01); a new mailbox re-runs the timer's script", async () => {
  const ALICE = "  - owner: alice\n    address: alice@alice.semail.email\n";
  const DAVE = "  - owner: dave\n    address: dave@dave.example\n";
  const ERIN = "  - owner: erin\n    address: erin@erin.semail.email\n";
  const before = await runStack(usersYaml(CAROL, ALICE, DAVE), { acmeAccountKey: KEY });
  const settings = parse(inputsOf(before.resources, "acme-settings").stdin as string);
  assert.deepEqual(settings.acme.hosts, [
    { id: "subdomains", names: ["mta-sts.alice.semail.email"], challenge: "dns-01" },
    { id: "dave.example", names: ["mta-sts.dave.example"], challenge: "http-01" },
  ]);
  assert.ok(!settings.acme.names.includes("mta-sts.alice.semail.email"), "the main certificate is left as it was");
  // `semail cert` takes them as they are.
  assert.deepEqual(acmeSettings.parse(settings.acme).hosts, settings.acme.hosts);
  const post = inputsOf(before.resources, "acme-timer").stdin as string;
  assert.match(post, /hosts\/status\.json 2>\/dev\/null \|\| docker kill --signal HUP semail-webmail$/m);

  const after = await runStack(usersYaml(CAROL, ALICE, DAVE, ERIN), { acmeAccountKey: KEY });
  assert.deepEqual(parse(inputsOf(after.resources, "acme-settings").stdin as string).acme.hosts[0].names, [
    "mta-sts.alice.semail.email",
    "mta-sts.erin.semail.email",
  ]);
  const digest = (stdin: unknown) => /^# settings sha256 ([0-9a-f]{64})$/m.exec(stdin as string)?.[1];
  assert.ok(digest(inputsOf(before.resources, "acme-timer").stdin));
  assert.notEqual(
    digest(inputsOf(after.resources, "acme-timer").stdin),
    digest(inputsOf(before.resources, "acme-timer").stdin),
    "the new settings start an order now (`systemctl start semail-cert.service`), not at the timer's next turn",
  );
  // A wildcard among acmeNames covers a subdomain's policy host: no certificate of its own.
  const wild = await runStack(usersYaml(ALICE), {
    acmeAccountKey: KEY,
    acmeNames: "mx.semail.email,*.alice.semail.email",
  });
  assert.equal(parse(inputsOf(wild.resources, "acme-settings").stdin as string).acme.hosts, undefined);
  // No webmail, no nginx to serve them: none.
  const bare = await runStack(usersYaml(ALICE, DAVE), { acmeAccountKey: KEY, webmailPort: "0", webmailHttpPort: "0" });
  assert.equal(parse(inputsOf(bare.resources, "acme-settings").stdin as string).acme.hosts, undefined);
});
