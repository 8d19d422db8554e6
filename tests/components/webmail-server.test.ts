// The webmail on the VM under Pulumi's mocks: its container (image, settings, mounts, ports,
// network), the address file from the live mailboxes, the identities that follow it, the
// autoconfig documents its nginx serves (their install script run for real by sh), the URL
// the web form links to, and the stack settings that move or remove it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { autoconfigInstallScript, mtaStsInstallScript } from "../../components/webmail-server.ts";
import { mtaStsPolicy } from "../../config/stack/transport-security.ts";
import { parseAutoconfig } from "../webform/autoconfig-xml.ts";
import { ALICE, BOB, CAROL, PROJECT_DIR, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { findResource as find, inputsOf as inputs, reveal, type Inputs } from "../../testkit/pulumi-mocks/harness.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

const PENDING_BOB = `${BOB}    pendingProof: 0123456789abcdef0123456789abcdef\n`;

/** Runs an install script as the VM does (`sh -s DIR`, the script on stdin). */
function runScript(create: string, script: string, dir: string, folder = "autoconfig"): Promise<void> {
  const [shell, flag, target] = create.split(" ");
  assert.deepEqual([shell, flag, target], ["sh", "-s", `/etc/semail/webmail/${folder}`]);
  return new Promise((resolve, reject) => {
    const child = execFile("sh", ["-s", dir], { timeout: 20_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(),
    );
    child.stdin!.end(script);
  });
}

test("the webmail: HTTPS on 443 and a redirect on 80 of each public address, IMAPS and submission on the daemons' network, the certificate read-only", async () => {
  const { resources, result } = await runStack(usersYaml(ALICE, PENDING_BOB, CAROL));
  assert.equal(result.webmailUrl, "https://mx.semail.email/");

  const build = inputs(resources, "image-webmail-build");
  assert.equal(build.build.dockerfile, `${PROJECT_DIR}/assets/images/webmail/Dockerfile`);
  assert.equal(build.build.context, `${PROJECT_DIR}/assets/images/webmail`);
  assert.deepEqual(build.build.args, { BASE: "debian:bookworm-slim" });

  const container = find(resources, "webmail-container");
  assert.equal(container.deleteBeforeReplace, true, "a fixed container name needs delete-before-replace");
  const c = inputs(resources, "webmail-container");
  assert.equal(c.name, "semail-webmail");
  assert.equal(c.image, `sha256:${"a".repeat(64)}`, "the digest of the image built from assets/images/webmail");
  assert.equal(c.restart, "unless-stopped");
  assert.deepEqual(c.envs, [
    "WEBMAIL_IMAP=semail-imap:993",
    "WEBMAIL_SMTP=semail-outbound:587",
    "WEBMAIL_IMAP_TLS_NAME=mx.semail.email",
    "WEBMAIL_SMTP_TLS_NAME=mx.semail.email",
    "WEBMAIL_WORKERS=2",
  ]);
  assert.deepEqual(
    c.mounts.map((m: Inputs) => `${m.source}:${m.target}:${m.readOnly ? "ro" : "rw"}`),
    [
      "/etc/semail/webmail:/etc/semail/webmail:ro",
      "/etc/semail/tls/fullchain.pem:/etc/semail/tls/cert.pem:ro",
      "/etc/semail/tls/privkey.pem:/etc/semail/tls/key.pem:ro",
      "/var/lib/semail/acme:/var/lib/semail/acme:ro",
    ],
  );
  assert.deepEqual(
    c.volumes,
    [{ hostPath: "/var/lib/semail/webmail", containerPath: "/var/lib/semail/webmail" }],
    "its database and des_key outlive the container",
  );
  assert.deepEqual(
    c.ports.map((p: Inputs) => `${p.ip}:${p.external}->${p.internal}`),
    ["192.0.2.25:443->443", "192.0.2.25:80->80", "2001:db8::25:443->443", "2001:db8::25:80->80"],
  );
  assert.deepEqual(
    c.networksAdvanced,
    [{ name: "semail-services", aliases: ["semail-webmail"] }],
    "where semail-imap and semail-outbound are",
  );
  const imap = inputs(resources, "imap-container");
  assert.ok(
    imap.networksAdvanced.some((n: Inputs) => n.name === "semail-services" && n.aliases.includes("semail-imap")),
  );
  assert.ok(imap.ports.some((p: Inputs) => p.internal === 993));

  // The address file: the live mailboxes (bob's claim is pending), installed by rename.
  const addresses = inputs(resources, "webmail-addresses");
  assert.match(
    addresses.create,
    /install -d -m 0755 "\$2" && mkdir -p "\$1" && cat > "\$1\/addresses\.new" .* mv -f "\$1\/addresses\.new" "\$1\/addresses"' install-webmail-addresses \/etc\/semail\/webmail \/var\/lib\/semail\/acme$/,
  );
  assert.deepEqual(
    addresses.stdin.split("\n").filter((l: string) => l && !l.startsWith("#")),
    ["alice@alice.semail.email alice", "carol@semail.email carol"],
  );
  assert.ok(
    find(resources, "webmail-container").dependencies.some((d) => d.endsWith("::webmail-addresses")),
    "the file is there before the container starts",
  );
  const identities = inputs(resources, "webmail-identities");
  assert.equal(identities.create, "docker exec semail-webmail /usr/local/sbin/semail-webmail-identities");
  assert.deepEqual(identities.triggers, [addresses.stdin], "run again whenever the address file changes");
  assert.equal(identities.delete, undefined);
});

test("a changed address changes the webmail's address file and runs the identities again; nothing else of the webmail", async () => {
  const before = await runStack(usersYaml(ALICE, CAROL));
  const after = await runStack(usersYaml(ALICE, CAROL.replace("carol@semail.email", "carol.new@semail.email")));
  const changed = before.resources
    .filter(
      (r) =>
        r.name.startsWith("webmail-") &&
        JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(find(after.resources, r.name).inputs)),
    )
    .map((r) => r.name);
  assert.deepEqual(changed.sort(), ["webmail-addresses", "webmail-identities"]);
  assert.match(inputs(after.resources, "webmail-addresses").stdin, /^carol\.new@semail\.email carol$/m);
});

test("stack settings: another HTTPS port and no HTTP; no webmail at all; an image of the operator's", async () => {
  const moved = await runStack(usersYaml(ALICE), { webmailPort: "8443", webmailHttpPort: "0" });
  assert.deepEqual(
    inputs(moved.resources, "webmail-container").ports.map((p: Inputs) => `${p.ip}:${p.external}->${p.internal}`),
    ["192.0.2.25:8443->443", "2001:db8::25:8443->443"],
  );
  assert.equal(moved.result.webmailUrl, "https://mx.semail.email:8443/");

  const none = await runStack(usersYaml(ALICE), { webmailPort: "0" });
  assert.ok(
    !none.resources.some((r) => r.name.startsWith("webmail") || r.name === "image-webmail-build"),
    "no webmail, nothing built for it",
  );
  assert.equal(none.result.webmailUrl, undefined, "and no link");

  const own = await runStack(usersYaml(ALICE), { webmailImage: "registry.example/semail-webmail:7" });
  assert.equal(inputs(own.resources, "webmail-container").image, "registry.example/semail-webmail:7");
  assert.ok(!own.resources.some((r) => r.name === "image-webmail-build"));
});

test("autoconfig: one document per live mail domain for the webmail's nginx, naming mx.<domain> and the VM's ports; rewritten with the domains", async (t) => {
  const dir = await tempDir(t, "semail-autoconfig-");
  const before = await runStack(usersYaml(ALICE, PENDING_BOB, CAROL));
  const command = inputs(before.resources, "webmail-autoconfig");
  assert.equal(find(before.resources, "webmail-autoconfig").parent.endsWith("::webmail"), true);
  assert.equal(
    command.delete,
    undefined,
    "no delete: as with the address file, nothing on the VM is removed with the webmail",
  );
  await runScript(command.create, command.stdin, dir);
  assert.deepEqual(
    (await readdir(dir)).sort(),
    ["alice.semail.email.xml", "semail.email.xml"],
    "alice's subdomain and carol's managed domain; bob's claim is pending",
  );
  const alice = await parseAutoconfig(await readFile(path.join(dir, "alice.semail.email.xml"), "utf8"));
  assert.equal(alice.provider, "semail.email");
  assert.deepEqual(alice.domains, ["alice.semail.email"]);
  assert.deepEqual(
    [...alice.incoming, ...alice.outgoing].map(
      (s) => `${s.type} ${s.hostname}:${s.port} ${s.socketType} ${s.username}`,
    ),
    [
      "imap mx.semail.email:993 SSL %EMAILADDRESS%",
      "imap mx.semail.email:143 STARTTLS %EMAILADDRESS%",
      "pop3 mx.semail.email:995 SSL %EMAILADDRESS%",
      "smtp mx.semail.email:465 SSL %EMAILADDRESS%",
      "smtp mx.semail.email:587 STARTTLS %EMAILADDRESS%",
    ],
  );
  assert.equal(
    alice.incoming[0]!.hostname,
    new URL(before.result.webmailUrl!).hostname,
    "the same host the webmail and its certificate are on",
  );

  // Bob's domain proven, carol gone: the documents follow at the next update; the container stays.
  const after = await runStack(usersYaml(ALICE, BOB));
  const changed = before.resources
    .filter(
      (r) =>
        r.name.startsWith("webmail-") &&
        JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(find(after.resources, r.name).inputs)),
    )
    .map((r) => r.name);
  assert.deepEqual(changed.sort(), [
    "webmail-addresses",
    "webmail-autoconfig",
    "webmail-identities",
    "webmail-mta-sts",
  ]);
  await runScript(
    inputs(after.resources, "webmail-autoconfig").create,
    inputs(after.resources, "webmail-autoconfig").stdin,
    dir,
  );
  assert.deepEqual(
    (await readdir(dir)).sort(),
    ["alice.semail.email.xml", "example.org.xml"],
    "carol's domain lost its document, bob's has one",
  );
  assert.deepEqual((await parseAutoconfig(await readFile(path.join(dir, "example.org.xml"), "utf8"))).domains, [
    "example.org",
  ]);

  // No mailbox left: no document.
  const none = await runStack(usersYaml());
  await runScript(
    inputs(none.resources, "webmail-autoconfig").create,
    inputs(none.resources, "webmail-autoconfig").stdin,
    dir,
  );
  assert.deepEqual(await readdir(dir), []);
});

test("the install script takes only <domain>.xml names: it quotes documents, never names", () => {
  assert.match(autoconfigInstallScript({ "a.example.xml": "it's <x>" }), /^put a\.example\.xml 'it'\\''s <x>'$/m);
  for (const bad of ["../x.xml", "a/b.xml", "x.conf", "A.xml", "a b.xml", ".xml", "$(id).xml"]) {
    assert.throws(() => autoconfigInstallScript({ [bad]: "" }), /expected <domain>\.xml/, bad);
  }
});

test("MTA-STS: the one policy in a file per served domain (the managed domain always), for the webmail's nginx; rewritten with the domains", async (t) => {
  const dir = await tempDir(t, "semail-mta-sts-");
  const before = await runStack(usersYaml(ALICE, PENDING_BOB), { mtaStsMode: "testing", mtaStsMaxAge: "86400" });
  const command = inputs(before.resources, "webmail-mta-sts");
  assert.equal(find(before.resources, "webmail-mta-sts").parent.endsWith("::webmail"), true);
  await runScript(command.create, command.stdin, dir, "mta-sts");
  assert.deepEqual(
    (await readdir(dir)).sort(),
    ["alice.semail.email.txt", "semail.email.txt"],
    "bob's claim is pending",
  );
  const policy = mtaStsPolicy("semail.email", { mtaStsMode: "testing", mtaStsMaxAge: 86400 });
  assert.equal(policy, "version: STSv1\r\nmode: testing\r\nmx: mx.semail.email\r\nmax_age: 86400\r\n");
  for (const file of await readdir(dir)) assert.equal(await readFile(path.join(dir, file), "utf8"), policy, file);

  const after = await runStack(usersYaml(BOB), { mtaStsMode: "testing", mtaStsMaxAge: "86400" });
  await runScript(
    inputs(after.resources, "webmail-mta-sts").create,
    inputs(after.resources, "webmail-mta-sts").stdin,
    dir,
    "mta-sts",
  );
  assert.deepEqual((await readdir(dir)).sort(), ["example.org.txt", "semail.email.txt"], "alice's gone, bob's proven");
});

test("the MTA-STS install script takes only <domain>.txt names", () => {
  assert.match(mtaStsInstallScript({ "a.example.txt": "mode: enforce" }), /^put a\.example\.txt 'mode: enforce'$/m);
  assert.match(mtaStsInstallScript({}), /for f in "\$dir"\/\*\.txt; do/);
  for (const bad of ["../x.txt", "a.xml", "A.txt", "$(id).txt"])
    assert.throws(() => mtaStsInstallScript({ [bad]: "" }), /expected <domain>\.txt/, bad);
});
