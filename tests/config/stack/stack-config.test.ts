// The stack settings as plain functions: defaults, the example stack, and error messages.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { parseStackConfig, SECRET_SETTINGS, SETTINGS, StackConfigError } from "../../../config/stack/stack-config.ts";
import { stackProblems } from "../../../components/stack.ts";
import { zoneRecords } from "../../../config/stack/zone-file.ts";
import { PROJECT_DIR, baseConfig } from "../../../testkit/pulumi-mocks/stack-fixtures.ts";

const fromMap = (map: Record<string, string>) => (key: string) => map[`semail:${key}`];
function problems(overrides: Record<string, string | undefined>): readonly string[] {
  const map = { ...baseConfig() } as Record<string, string | undefined>;
  for (const [k, v] of Object.entries(overrides)) map[`semail:${k}`] = v;
  try {
    parseStackConfig((key) => map[`semail:${key}`]);
  } catch (err) {
    assert.ok(err instanceof StackConfigError);
    return err.problems;
  }
  assert.fail("expected the config to be refused");
}

test("Pulumi.yaml declares every setting with the same default and a description", () => {
  const project = parse(readFileSync(join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));
  assert.equal(project.name, "semail");
  assert.equal(project.runtime.name, "nodejs");
  assert.equal(project.runtime.options.typescript, false, "Node 26 strips the types itself");
  for (const [key, [fallback, description]] of Object.entries(SETTINGS)) {
    const declared = project.config[key];
    assert.ok(declared, `Pulumi.yaml config lacks ${key}`);
    assert.equal(declared.description, description, `${key} description`);
    assert.equal(declared.default === undefined ? undefined : String(declared.default), fallback, `${key} default`);
  }
  // The required secret is declared so; the optional ones have the default "" (Pulumi refuses an
  // unencrypted default on a `secret: true` key) and the program refuses them set in clear.
  assert.equal(project.config.sshPrivateKey?.secret, true, "sshPrivateKey is declared secret");
  for (const key of ["ldapPassword", "gandiApiKey"])
    assert.equal(project.config[key]?.default, "", `${key} is optional`);
  assert.deepEqual(
    Object.keys(project.config).sort(),
    [...Object.keys(SETTINGS), ...Object.keys(SECRET_SETTINGS)].sort(),
    "no undeclared extras",
  );
});

test("Pulumi.prod.yaml is a complete, valid example stack with the secrets encrypted", () => {
  const stack = parse(readFileSync(join(PROJECT_DIR, "Pulumi.prod.yaml"), "utf8")).config as Record<string, unknown>;
  const plain = Object.fromEntries(Object.entries(stack).filter(([, v]) => typeof v === "string")) as Record<
    string,
    string
  >;
  const config = parseStackConfig(fromMap(plain));
  assert.equal(config.managedDomain, "semail.email");
  assert.equal(config.storageBackend, "lvm");
  for (const key of Object.keys(SETTINGS))
    assert.ok(
      `semail:${key}` in stack || key === "imageDir" || key === "vmHostKey" || key === "ldapImage",
      `the example sets semail:${key}`,
    );
  for (const key of ["sshPrivateKey", "ldapPassword"]) {
    assert.ok(
      typeof stack[`semail:${key}`] === "object" && "secure" in (stack[`semail:${key}`] as object),
      `semail:${key} is a secure value`,
    );
  }
});

test("defaults apply and ssh-keyscan output is accepted as a host key", () => {
  const config = parseStackConfig(
    fromMap(baseConfig({ dom0HostKey: "dom0.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5" })),
  );
  assert.equal(config.dom0HostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5");
  assert.equal(config.storageBackend, "lvm");
  assert.equal(config.defaultMailboxSize, 5 * 1024 ** 3);
  assert.equal(config.ldapAdminDn, "cn=admin,dc=semail,dc=email");
  assert.equal(config.vmSshViaDom0, true);
  assert.equal(config.vmIp6, "2001:db8::25");
});

test("each bad setting is named, with how to fix it, all at once", () => {
  const found = problems({
    vmIp: undefined,
    storageBackend: "zfs",
    mailRoot: "var/mail",
    dkimKeys: '["nope"]',
    vmSshViaDom0: "yes",
  });
  assert.deepEqual(found.map((p) => p.split(" ")[0]!.replace(/:$/, "")).sort(), [
    "semail:dkimKeys",
    "semail:mailRoot",
    "semail:storageBackend",
    "semail:vmIp",
    "semail:vmSshViaDom0",
  ]);
  assert.ok(
    found.includes(
      "semail:vmIp is required: Public IPv4 address of the VM or existing host (SSH, and mx, ns and autoconfig in the zone). (pulumi config set vmIp VALUE)",
    ),
  );
  assert.ok(
    found.some((p) =>
      p.startsWith(
        'semail:storageBackend "zfs" is not valid: use "lvm" or "image" (pulumi config set storageBackend lvm)',
      ),
    ),
  );
});

test("specific rules: domain, data disk, LDAP admin DN for the local slapd, subnet, users list path", () => {
  assert.match(
    problems({ managedDomain: "not a domain" })[0]!,
    /^semail:managedDomain "not a domain" is not a valid domain/,
  );
  assert.match(problems({ vmDataDisk: "sdb" })[0]!, /^semail:vmDataDisk "sdb" must be a block device path under \/dev/);
  assert.match(
    problems({ ldapAdminDn: "cn=root,dc=semail,dc=email" })[0]!,
    /^semail:ldapAdminDn must be cn=admin,dc=semail,dc=email for the local slapd/,
  );
  // Any admin DN is fine for an external directory.
  assert.equal(
    parseStackConfig(fromMap(baseConfig({ ldapAdminDn: "cn=root,dc=x", ldapUrl: "ldaps://ldap.example.net" })))
      .ldapAdminDn,
    "cn=root,dc=x",
  );
  assert.match(problems({ usersNetworkSubnet: "10.0.0.0/8" })[0]!, /^semail:usersNetworkSubnet/);
  assert.match(
    problems({ usersList: "../outside.yaml" })[0]!,
    /^semail:usersList "..\/outside.yaml" must be a path inside the project/,
  );
  for (const key of ["daemonImage", "ldapImage", "userImage", "aptProxyImage", "imapImage", "webmailImage"]) {
    assert.match(
      problems({ [key]: "Bad Image!" })[0]!,
      new RegExp(`^semail:${key} "Bad Image!" is not an image reference \\(leave it empty to build SEMail's own\\)`),
      key,
    );
  }
  assert.match(
    problems({ baseImage: "" })[0]!,
    /^semail:baseImage "" is not an image reference/,
    "the base cannot be empty",
  );
  assert.match(
    problems({ defaultMailboxSize: "1MiB" })[0]!,
    /^semail:defaultMailboxSize is below semail:minMailboxSize/,
  );
});

test("the webmail's ports: a free public port each, 0 for none, never one the VM already publishes", () => {
  const config = parseStackConfig(fromMap(baseConfig()));
  assert.deepEqual([config.webmailPort, config.webmailHttpPort, config.webmailImage], [443, 80, ""]);
  assert.equal(parseStackConfig(fromMap(baseConfig({ webmailPort: "0", webmailHttpPort: "0" }))).webmailPort, 0);
  assert.equal(
    parseStackConfig(fromMap(baseConfig({ webmailPort: "8443", webmailHttpPort: "8080" }))).webmailPort,
    8443,
  );
  assert.match(
    problems({ webmailPort: "993" })[0]!,
    /^semail:webmailPort 993 is already the VM's IMAPS port \(pulumi config set webmailPort 443\)/,
  );
  assert.match(problems({ webmailHttpPort: "25" })[0]!, /^semail:webmailHttpPort 25 is already the VM's SMTP port/);
  assert.match(
    problems({ webmailPort: "https" })[0]!,
    /^semail:webmailPort "https" must be a port number from 1 to 65535, or 0 for none/,
  );
  assert.match(problems({ webmailPort: "70000" })[0]!, /^semail:webmailPort "70000" must be a port number/);
  assert.match(
    problems({ webmailPort: "8443", webmailHttpPort: "8443" })[0]!,
    /^semail:webmailHttpPort 8443 is semail:webmailPort too/,
  );
});

test("the Gandi key and the LDAP password are required where they are used", () => {
  const config = parseStackConfig(fromMap(baseConfig({ dnsProvider: "gandi" })));
  assert.deepEqual(stackProblems(config, { sshPrivateKey: "k" }), [
    "semail:gandiApiKey is required when semail:dnsProvider is gandi (pulumi config set --secret gandiApiKey KEY)",
    "semail:ldapPassword is required for the local slapd (pulumi config set --secret ldapPassword PASSWORD), or set semail:ldapUrl",
  ]);
  assert.deepEqual(stackProblems(config, { sshPrivateKey: "k", gandiApiKey: "g", ldapPassword: "p" }), []);
});

test("the operator guide lists every setting", () => {
  const guide = readFileSync(join(PROJECT_DIR, "docs", "operator-guide.md"), "utf8");
  for (const key of [...Object.keys(SETTINGS), ...Object.keys(SECRET_SETTINGS)])
    assert.ok(guide.includes(`| \`${key}\` |`), `docs/operator-guide.md lists ${key}`);
});

test("an existing host needs no dom0, gateway or data disk, but its host key, and never goes through dom0", () => {
  const existing = {
    vmProvider: "existing",
    dom0Host: undefined,
    dom0HostKey: undefined,
    vmGateway: undefined,
    vmDataDisk: undefined,
    storageBackend: "image",
    vmHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5",
  };
  const map: Record<string, string | undefined> = { ...baseConfig() };
  for (const [k, v] of Object.entries(existing)) map[`semail:${k}`] = v;
  const config = parseStackConfig((key) => map[`semail:${key}`]);
  assert.equal(config.vmProvider, "existing");
  assert.equal(config.vmSshViaDom0, false, "there is no dom0 to jump through");
  assert.equal(config.vmHostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5");
  assert.match(problems({ ...existing, vmHostKey: undefined })[0]!, /^semail:vmHostKey must be an SSH host key line/);
  assert.match(
    problems({ ...existing, storageBackend: "lvm" })[0]!,
    /^semail:vmDataDisk is required for semail:storageBackend lvm/,
  );
  assert.deepEqual(
    problems({ dom0Host: undefined, vmGateway: undefined })
      .map((p) => p.split(" ")[0])
      .sort(),
    ["semail:dom0Host", "semail:vmGateway"],
  );
  assert.match(problems({ dom0Host: undefined })[0]!, /^semail:dom0Host is required when semail:vmProvider is xen/);
  assert.match(problems({ vmProvider: "aws" })[0]!, /^semail:vmProvider "aws" is not valid: use "xen" or "existing"/);
});

test("transport security: MTA-STS enforce for a week, TLS-RPT to the postmaster and no next key by default; bad values named", () => {
  const config = parseStackConfig(fromMap(baseConfig()));
  assert.deepEqual(
    [config.mtaStsMode, config.mtaStsMaxAge, config.tlsRptRua, config.tlsNextKey],
    ["enforce", 604800, "", ""],
  );
  const set = parseStackConfig(
    fromMap(
      baseConfig({
        mtaStsMode: "testing",
        mtaStsMaxAge: "86400",
        tlsRptRua: "mailto:tls@example.net, https://reports.example.net/tlsrpt",
        tlsNextKey: "/etc/semail/tls/next-privkey.pem",
      }),
    ),
  );
  assert.deepEqual(
    [set.mtaStsMode, set.mtaStsMaxAge, set.tlsNextKey],
    ["testing", 86400, "/etc/semail/tls/next-privkey.pem"],
  );
  assert.match(
    problems({ mtaStsMode: "strict" })[0]!,
    /^semail:mtaStsMode "strict" is not valid: use "enforce" or "testing" or "none"/,
  );
  assert.match(
    problems({ mtaStsMaxAge: "0" })[0]!,
    /^semail:mtaStsMaxAge "0" must be a number of seconds from 1 to 31557600/,
  );
  assert.match(problems({ mtaStsMaxAge: "31557601" })[0]!, /^semail:mtaStsMaxAge "31557601" must be/);
  assert.match(
    problems({ tlsRptRua: "postmaster@example.net" })[0]!,
    /^semail:tlsRptRua "postmaster@example\.net" must be mailto: or https: URIs/,
  );
  assert.match(problems({ tlsNextKey: "next.pem" })[0]!, /^semail:tlsNextKey "next\.pem" must be an absolute path/);
});

test("ACME: by default the zone's TLS names of the VM, DNS-01 with named on the VM, HTTP-01 with Gandi, Let's Encrypt, the postmaster", () => {
  const config = parseStackConfig(fromMap(baseConfig()));
  assert.deepEqual(config.acmeNames, ["mx.semail.email", "autoconfig.semail.email", "mta-sts.semail.email"]);
  assert.equal(config.acmeChallenge, "dns-01");
  assert.equal(config.acmeDirectoryUrl, "https://acme-v02.api.letsencrypt.org/directory");
  assert.equal(config.acmeEmail, "postmaster@semail.email");
  // Each default name is one the zone points at the VM.
  const records = zoneRecords({ domain: "semail.email", serial: 1, ipv4: "192.0.2.25", mailboxDomains: [] });
  for (const name of config.acmeNames) {
    const label = name.slice(0, -".semail.email".length);
    assert.ok(
      records.some((r) => r.name === label && r.type === "A" && r.values[0] === "192.0.2.25"),
      `${name} has the VM's address`,
    );
  }
  assert.equal(parseStackConfig(fromMap(baseConfig({ dnsProvider: "gandi" }))).acmeChallenge, "http-01");
});

test("ACME: names as a comma list or a JSON list, normalised; a wildcard and names outside the zone where the challenge allows them", () => {
  const listed = parseStackConfig(
    fromMap(
      baseConfig({ acmeNames: "MX.semail.email., *.semail.email, mx.semail.email", acmeEmail: "hm@semail.email" }),
    ),
  );
  assert.deepEqual(listed.acmeNames, ["mx.semail.email", "*.semail.email"]);
  assert.equal(listed.acmeEmail, "hm@semail.email");
  assert.deepEqual(
    parseStackConfig(fromMap(baseConfig({ acmeNames: '["semail.email","webmail.semail.email"]' }))).acmeNames,
    ["semail.email", "webmail.semail.email"],
  );
  // HTTP-01 can prove a name outside the zone that points at the VM.
  const outside = parseStackConfig(
    fromMap(baseConfig({ acmeChallenge: "http-01", acmeNames: "mx.semail.email,autoconfig.example.org" })),
  );
  assert.deepEqual(outside.acmeNames, ["mx.semail.email", "autoconfig.example.org"]);
  const staging = "https://acme-staging-v02.api.letsencrypt.org/directory";
  assert.equal(parseStackConfig(fromMap(baseConfig({ acmeDirectoryUrl: staging }))).acmeDirectoryUrl, staging);
});

test("ACME: each bad setting is named, with how to fix it", () => {
  assert.match(
    problems({ acmeChallenge: "tls-alpn-01" })[0]!,
    /^semail:acmeChallenge "tls-alpn-01" is not valid: use "dns-01" or "http-01"/,
  );
  assert.match(
    problems({ acmeChallenge: "dns-01", dnsProvider: "gandi" })[0]!,
    /^semail:acmeChallenge dns-01 publishes the challenge in the zone on the VM's named, but semail:dnsProvider is gandi: use http-01/,
  );
  assert.match(
    problems({ acmeChallenge: "http-01", acmeNames: "*.semail.email" })[0]!,
    /^semail:acmeNames "\*\.semail\.email": a wildcard needs semail:acmeChallenge dns-01/,
  );
  assert.match(
    problems({ dnsProvider: "gandi", acmeNames: "*.semail.email" })[0]!,
    /^semail:acmeNames "\*\.semail\.email": a wildcard needs semail:acmeChallenge dns-01/,
    "Gandi's default is http-01",
  );
  assert.match(
    problems({ acmeNames: "mx.semail.email,mail.example.org" })[0]!,
    /^semail:acmeNames "mail\.example\.org" is not in the zone semail\.email, where DNS-01 publishes its challenge/,
  );
  assert.match(problems({ acmeNames: "not a name" })[0]!, /^semail:acmeNames "not": "not" is not a valid domain/);
  assert.match(problems({ acmeNames: "bad_name.semail.email" })[0]!, /^semail:acmeNames "bad_name\.semail\.email": /);
  assert.match(
    problems({ acmeNames: '["mx.semail.email"' })[0]!,
    /^semail:acmeNames "\[\\"mx.*is not a JSON list of names/,
  );
  assert.match(problems({ acmeNames: "," })[0]!, /^semail:acmeNames has no name/);
  const many = Array.from({ length: 101 }, (_, i) => `h${i}.semail.email`).join(",");
  assert.match(problems({ acmeNames: many })[0]!, /^semail:acmeNames has 101 names; a certificate holds at most 100/);
  assert.match(
    problems({ acmeDirectoryUrl: "http://acme.example/directory" })[0]!,
    /^semail:acmeDirectoryUrl "http:\/\/acme\.example\/directory" must be the CA's https:\/\/ directory URL/,
  );
  assert.match(problems({ acmeEmail: "postmaster" })[0]!, /^semail:acmeEmail "postmaster" is not an email address/);
});

test("ACME by HTTP-01 needs the webmail on port 80; DNS-01 does not, and without the account key neither is checked", () => {
  const secrets = { sshPrivateKey: "k", ldapPassword: "p" };
  const http = (over: Record<string, string>) =>
    stackProblems(parseStackConfig(fromMap(baseConfig({ acmeChallenge: "http-01", ...over }))), {
      ...secrets,
      acmeAccountKey: "key",
    });
  assert.deepEqual(http({}), []);
  const portSettings: Record<string, string>[] = [
    { webmailHttpPort: "0" },
    { webmailHttpPort: "8080" },
    { webmailPort: "0" },
  ];
  for (const over of portSettings)
    assert.match(
      http(over).join("\n"),
      /^semail:acmeChallenge http-01: the CA checks the names on port 80/,
      JSON.stringify(over),
    );
  const dns = parseStackConfig(fromMap(baseConfig({ webmailPort: "0", webmailHttpPort: "0" })));
  assert.deepEqual(stackProblems(dns, { ...secrets, acmeAccountKey: "key" }), []);
  const noKey = parseStackConfig(fromMap(baseConfig({ acmeChallenge: "http-01", webmailHttpPort: "0" })));
  assert.deepEqual(stackProblems(noKey, secrets), []);
});
