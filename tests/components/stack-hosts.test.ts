// The stack under Pulumi's mocks with mailboxes on several SEMail hosts: a mailbox whose entry
// names another host gets nothing on this VM (no filesystem, container or IMAP user), one moving
// away keeps everything until its entry names the new host, the zone's MX for its domain names
// its host, the daemons are told the hosts, and only the main host publishes the zone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import { parseSettings } from "../../config/settings.ts";
import { parseStackConfig } from "../../config/stack/stack-config.ts";
import { stackProblems } from "../../components/stack.ts";
import { baseConfig, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { inputsOf as inputs, settle, type Recorded } from "../../testkit/pulumi-mocks/harness.ts";

const HOSTS = JSON.stringify({
  b: {
    smtp: "mx-b.semail.email:25",
    mx: "mx-b.semail.email",
    ip: "192.0.2.26",
    mailRoot: "/var/mail/semail",
    ssh: "root@mx-b.semail.email",
  },
});
const ALICE = "  - owner: alice\n    address: alice@alice.semail.email\n";
const bob = (placement: string) => `  - owner: bob\n    address: bob@bob.semail.email\n${placement}`;

const mailboxesIn = (resources: readonly Recorded[]) =>
  resources
    .filter((r) => r.type === "semail:infra:Mailbox")
    .map((r) => r.name)
    .sort();
const userContainers = (resources: readonly Recorded[]) =>
  resources.filter((r) => r.type === "docker:index/container:Container" && r.name.startsWith("mailbox-")).length;

test("a mailbox on another host gets no filesystem, container or IMAP user here; the zone's MX names that host", async () => {
  const { resources, result } = await runStack(usersYaml(ALICE, bob("    host: b\n")), { hosts: HOSTS });
  assert.deepEqual(mailboxesIn(resources), ["mailbox-alice"]);
  assert.equal(userContainers(resources), 1);
  assert.ok(!resources.some((r) => r.name.startsWith("mailbox-bob")), "nothing of bob's on this VM");
  assert.doesNotMatch(inputs(resources, "imap-users").stdin, /bob/, "no IMAP user for bob here");

  const zone = (await settle(result.zone)).value;
  assert.match(zone, /^bob 3600 IN MX 10 mx-b\.semail\.email\.$/m);
  assert.match(zone, /^alice 3600 IN MX 10 mx\.semail\.email\.$/m);
  assert.match(zone, /^mx-b 3600 IN A 192\.0\.2\.26$/m);
  assert.match(zone, /^@ 3600 IN TXT "v=spf1 mx ip4:192\.0\.2\.26 -all"$/m);

  // The daemons read the whole list and are told the hosts: inbound hands bob's mail on to b.
  const settings = parseSettings(parse(inputs(resources, "inbound-container").uploads[0].content), "daemon settings");
  assert.equal(settings.hostName, "main");
  assert.equal(settings.hosts.b?.smtp, "mx-b.semail.email:25");
  assert.match(inputs(resources, "users-list").stdin, /host: b/);
});

test("a mailbox moving away keeps its filesystem and container until its entry names the new host", async () => {
  const moving = await runStack(usersYaml(ALICE, bob("    moving: b\n")), { hosts: HOSTS });
  assert.deepEqual(mailboxesIn(moving.resources), ["mailbox-alice", "mailbox-bob"]);
  assert.equal(userContainers(moving.resources), 2);
  // Its filesystem is never destroyed by the program: removed from the stack, it is kept (retainOnDelete).
  const storage = moving.resources.find((r) => r.name === "mailbox-bob-storage")!;
  assert.equal(storage.retainOnDelete, true);
  assert.equal(inputs(moving.resources, "mailbox-bob-storage").delete, undefined);
  assert.match((await settle(moving.result.zone)).value, /^bob 3600 IN MX 10 mx\.semail\.email\.$/m);

  const moved = await runStack(usersYaml(ALICE, bob("    host: b\n")), { hosts: HOSTS });
  assert.deepEqual(mailboxesIn(moved.resources), ["mailbox-alice"]);
  assert.match((await settle(moved.result.zone)).value, /^bob 3600 IN MX 10 mx-b\.semail\.email\.$/m);
});

test("host b's stack makes b's mailboxes only, publishes no zone, and gives its external owners its MX name", async () => {
  const external = "  - owner: carol\n    address: carol@example.org\n    host: b\n";
  const { resources, result } = await runStack(usersYaml(ALICE, bob("    host: b\n"), external), {
    hosts: HOSTS,
    hostName: "b",
  });
  assert.deepEqual(mailboxesIn(resources), ["mailbox-bob", "mailbox-carol"]);
  assert.ok(!resources.some((r) => r.type === "semail:infra:DnsZone"), "only the main host publishes the zone");
  assert.equal((await settle(result.zone)).value, "");
  assert.deepEqual(result.externalMxRecords, { "carol@example.org": "example.org. 3600 IN MX 10 mx-b.semail.email." });
});

test("a mailbox on a host the settings do not name stops the stack, naming semail:hosts", async () => {
  await assert.rejects(
    runStack(usersYaml(ALICE, bob("    host: z\n")), { hosts: HOSTS }),
    /bob's mailbox is on host "z", which semail:hosts does not name/,
  );
});

test("gandi: each host makes the records of the subdomains whose mailboxes it holds, naming its own MX", async () => {
  const records = (resources: readonly Recorded[]) =>
    Object.fromEntries(
      resources
        .filter((r) => r.type === "gandi:livedns/record:Record" && r.inputs.type === "MX")
        .map((r) => [r.inputs.name as string, r.inputs.values]),
    );
  const users = usersYaml(ALICE, bob("    host: b\n"));
  const main = await runStack(users, { hosts: HOSTS, dnsProvider: "gandi" });
  assert.deepEqual(records(main.resources), { "@": ["10 mx.semail.email."], alice: ["10 mx.semail.email."] });
  // The zone's own records (the other host's A) are the main host's to make.
  assert.ok(main.resources.some((r) => r.inputs.name === "mx-b" && r.inputs.type === "A"));
  const b = await runStack(users, { hosts: HOSTS, dnsProvider: "gandi", hostName: "b", acmeChallenge: "http-01" });
  assert.deepEqual(records(b.resources), { bob: ["10 mx-b.semail.email."] });
});

test("a host other than main cannot take its certificate by DNS-01: the zone it would write to is the main host's", () => {
  const config = (hostName: string) =>
    parseStackConfig((key) => {
      const value = baseConfig({ hosts: HOSTS, hostName })[`semail:${key}`];
      return value;
    });
  const secrets = { sshPrivateKey: "k", ldapPassword: "p", acmeAccountKey: "acme" };
  assert.deepEqual(stackProblems(config("main"), secrets), []);
  assert.match(
    stackProblems(config("b"), secrets).join("\n"),
    /semail:acmeChallenge dns-01 writes its challenge into the zone on this VM's named, which only the main host publishes \(semail:hostName is b\): use http-01/,
  );
});
