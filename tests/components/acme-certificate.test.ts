// The ACME certificate on the VM under Pulumi's mocks: the account key travels only as a
// secret and lands root-only, `semail cert` gets settings naming the certificate's names and
// the key's place, and the timer runs it in the daemons image with the reloads after an
// issuance; bad settings are refused with the config key to fix.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import * as pulumi from "@pulumi/pulumi";
import {
  AcmeCertificate,
  acmeUnits,
  validateAcme,
  type AcmeCertificateArgs,
} from "../../components/acme-certificate.ts";
import { findResource, inputsOf, plainOccurrences, record, SECRET_SIG } from "../../testkit/pulumi-mocks/harness.ts";
import { acmeSettings } from "../../config/sections/acme.ts";
import { CAROL, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const KEY = "-----BEGIN PRIVATE KEY-----\nACCOUNTKEYSECRET\n-----END PRIVATE KEY-----\n";

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
  assert.match(post, /^docker exec semail-webmail nginx -s reload$/m);
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
  await writeFile(join(dir, "state", "status.json"), '{\n  "outcome": "issued"\n}\n');
  await run();
  assert.equal(await readFile(a.tlsCert, "utf8"), "NEW CERT\n");
  assert.equal((await stat(a.tlsCert)).ino, inode, "the same file, as a single-file bind mount shows it");
  assert.equal(await readFile(a.tlsKey, "utf8"), "NEW KEY\n");
  assert.equal((await stat(a.tlsKey)).mode & 0o777, 0o600, "a new key file is root-only");
  assert.deepEqual((await readFile(join(dir, "docker.log"), "utf8")).trim().split("\n"), [
    "kill --signal HUP semail-inbound semail-outbound",
    "exec semail-imap doveadm reload",
    "exec semail-webmail nginx -s reload",
  ]);
});

test("the stack: no ACME without the secret; with it, mx, autoconfig and mta-sts by HTTP-01 through the webmail, the key a secret", async () => {
  const without = await runStack(usersYaml(CAROL));
  assert.equal(
    without.resources.some((r) => r.type === "semail:infra:AcmeCertificate"),
    false,
  );
  const { resources } = await runStack(usersYaml(CAROL), { acmeAccountKey: KEY });
  const settings = parse(inputsOf(resources, "acme-settings").stdin as string);
  assert.deepEqual(settings.acme.names, ["mx.semail.email", "autoconfig.semail.email", "mta-sts.semail.email"]);
  assert.equal(settings.acme.challenge, "http-01");
  assert.equal(settings.acme.directoryUrl, "https://acme-v02.api.letsencrypt.org/directory");
  const key = findResource(resources, "acme-account-key");
  assert.deepEqual(plainOccurrences(key.inputs, "ACCOUNTKEYSECRET"), []);
  assert.equal(inputsOf(resources, "acme-account-key").stdin, KEY);
  assert.match(inputsOf(resources, "acme-timer").stdin, /\/etc\/semail\/tls\/fullchain\.pem/);
  await assert.rejects(
    runStack(usersYaml(CAROL), { acmeAccountKey: KEY, webmailHttpPort: "0" }),
    /acmeAccountKey: the CA checks the names on port 80/,
  );
});
