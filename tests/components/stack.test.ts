// The whole stack under Pulumi's mocks: resources and their inputs for 0, 1 and 3 users,
// adding and removing a user, deletion safety and secrets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings } from "../../config/settings.ts";
import { checkListenAddresses } from "../../mailservers/outbound/daemon.ts";
import { parse } from "yaml";
import { mailUid } from "../../config/mail-uid.ts";
import { usersNetworkPlan } from "../../components/users-network.ts";
import * as gandiProvider from "@pulumiverse/gandi";
import { DnsZone } from "../../components/dns-zone.ts";
import { mtaStsId, mtaStsPolicy, tlsaReadCommand } from "../../config/stack/transport-security.ts";
import {
  ALICE,
  ALICE_KEY,
  BOB,
  CAROL,
  GANDI_KEY,
  LDAP_PASSWORD,
  PROJECT_DIR,
  SSH_KEY,
  runStack,
  usersYaml,
} from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import {
  findResource as find,
  inputsOf as inputs,
  plainOccurrences,
  record,
  reveal,
  settle,
  type Inputs,
  type Recorded,
} from "../../testkit/pulumi-mocks/harness.ts";

const names = (resources: readonly Recorded[]) => new Set(resources.map((r) => `${r.type}::${r.name}`));
const COMMANDS = new Set(["command:remote:Command", "command:remote:CopyToRemote"]);
// Commands that destroy a VM, a volume or mail.
// Removing a timer's own unit files (components/systemd-units.ts) loses nothing: they are rewritten from the program.
const DESTRUCTIVE =
  /xl destroy|xen-delete-image|lvremove|vgremove|pvremove|\brm\b(?! -f \/etc\/systemd\/system\/semail-)|mkfs|mailbox-fs\.sh destroy|--yes-destroy-mail/;

test("with no users: the VM, volume group, zone, LDAP and both daemons, and no mailbox", async () => {
  const { resources } = await runStack(usersYaml());
  assert.equal(resources.filter((r) => r.type === "semail:infra:Mailbox").length, 0);
  for (const type of ["XenVm", "VolumeGroup", "DnsZone", "LdapServer", "SmtpDaemon", "UsersNetwork", "HostScripts"]) {
    assert.ok(
      resources.some((r) => r.type === `semail:infra:${type}`),
      `a semail:infra:${type}`,
    );
  }

  const vm = find(resources, "vm-create");
  assert.equal(vm.protect, true, "the VM is protected");
  const vmIn = inputs(resources, "vm-create");
  assert.match(
    vmIn.create,
    /xen-create-image --hostname=semail --ip=192\.0\.2\.25 --gateway=192\.0\.2\.1 --netmask=255\.255\.255\.0 --bridge=xenbr0 --vcpus=2 --memory=2G --size=10G --dist=bookworm/,
  );
  assert.match(vmIn.create, /phy:\/dev\/vg0\/semail-mail,xvdb,w/);
  assert.match(vmIn.create, /xl create \/etc\/xen\/semail\.cfg/);
  assert.equal(vmIn.delete, "xl destroy semail 2>/dev/null || true; xen-delete-image semail");
  assert.equal(vmIn.connection.host, "dom0.example.net");
  assert.match(vmIn.connection.hostKey, /^ssh-ed25519 /);

  const vg = inputs(resources, "volume-group-create");
  assert.equal(find(resources, "volume-group-create").protect, true);
  assert.match(vg.create, /pvs \/dev\/xvdb >\/dev\/null 2>&1 \|\| pvcreate \/dev\/xvdb/);
  assert.match(vg.create, /vgs semail >\/dev\/null 2>&1 \|\| vgcreate semail \/dev\/xvdb/);
  assert.equal(vg.delete, undefined);
  // The VM is reached through dom0.
  assert.equal(vg.connection.host, "192.0.2.25");
  assert.equal(vg.connection.proxy.host, "dom0.example.net");

  const zone = inputs(resources, "zone-install");
  assert.match(
    zone.create,
    /^bash \/usr\/local\/lib\/semail\/install-zone\.sh semail\.email --zone-dir \/etc\/bind\/semail --stanza-b64 /,
  );
  assert.match(zone.stdin, /^@ 3600 IN MX 10 mx\.semail\.email\.$/m);
  assert.match(zone.stdin, /^mx 3600 IN A 192\.0\.2\.25$/m);
  assert.match(zone.stdin, /^ns 3600 IN AAAA 2001:db8::25$/m);
  assert.match(zone.stdin, /^_dmarc 3600 IN TXT "v=DMARC1; p=quarantine/m);
  assert.equal((zone.stdin as string).match(/ IN MX /g)?.length, 1, "only the apex MX");

  const inbound = inputs(resources, "inbound-container");
  assert.equal(inbound.restart, "unless-stopped");
  assert.deepEqual(inbound.command, ["inbound", "--config", "/usr/local/etc/semail.yaml"]);
  assert.deepEqual(
    inbound.ports.map((p: Inputs) => `${p.ip}:${p.external}->${p.internal}`),
    [
      "192.0.2.25:25->25",
      "192.0.2.25:587->587",
      "192.0.2.25:465->465",
      "2001:db8::25:25->25",
      "2001:db8::25:587->587",
      "2001:db8::25:465->465",
      // Its metrics, on the VM's loopback only (tests/components/metrics-scrape.test.ts).
      "127.0.0.1:9101->9101",
    ],
  );
  assert.deepEqual(
    inbound.mounts.map(
      (m: Inputs) => `${m.source}:${m.target}:${m.readOnly ? "ro" : "rw"}:${m.bindOptions?.propagation ?? ""}`,
    ),
    [
      "/etc/semail:/etc/semail:ro:",
      "/etc/semail/tls/fullchain.pem:/etc/semail/tls/fullchain.pem:ro:",
      "/etc/semail/tls/privkey.pem:/etc/semail/tls/privkey.pem:ro:",
      "/etc/semail/secrets/forward.secret:/etc/semail/secrets/forward.secret:ro:",
      "/var/mail/semail:/var/mail/semail:rw:rslave",
    ],
  );
  assert.equal(
    find(resources, "inbound-container").deleteBeforeReplace,
    true,
    "a fixed container name needs delete-before-replace",
  );

  const outbound = inputs(resources, "outbound-container");
  assert.equal(outbound.restart, "unless-stopped");
  assert.deepEqual(outbound.ports, [
    { internal: 587, external: 587, ip: "127.0.0.1" },
    { internal: 9102, external: 9102, ip: "127.0.0.1" },
  ]);
  assert.ok(outbound.mounts.some((m: Inputs) => m.source === "/var/spool/semail" && !m.readOnly));
  assert.ok(!outbound.mounts.some((m: Inputs) => m.source === "/var/mail/semail"), "outbound does not see the mail");
  assert.deepEqual(
    outbound.networksAdvanced.map((n: Inputs) => n.name),
    ["semail-services", "semail-users"],
  );
  // Inbound reaches outbound's submission (semail-outbound) on the daemons' network, not the users'.
  assert.deepEqual(
    inbound.networksAdvanced.map((n: Inputs) => `${n.name}:${n.aliases}`),
    ["semail-services:semail-inbound"],
  );
  assert.deepEqual(outbound.networksAdvanced[0].aliases, ["semail-outbound"]);
  // Room for maxConnections sessions and the files behind them, not Docker's usual 1024.
  for (const daemon of [inbound, outbound])
    assert.deepEqual(daemon.ulimits, [{ name: "nofile", soft: 16_384, hard: 16_384 }]);

  // Every image is built on the VM from this repository, FROM the one Debian base.
  for (const role of ["daemons", "directory", "user", "apt-proxy", "imap", "webmail"]) {
    const image = inputs(resources, `image-${role}-build`);
    assert.equal(image.build.dockerfile, `${PROJECT_DIR}/assets/images/${role}/Dockerfile`);
    assert.equal(image.build.context, role === "daemons" ? PROJECT_DIR : `${PROJECT_DIR}/assets/images/${role}`);
    assert.deepEqual(image.build.args, { BASE: "debian:bookworm-slim" });
    assert.equal(image.skipPush, true);
  }
  assert.equal(inbound.image, outbound.image, "one daemons image for both");
  const apt = inputs(resources, "apt-proxy-container");
  assert.deepEqual(
    apt.networksAdvanced.map((n: Inputs) => n.name),
    ["semail-users", "semail-services"],
  );
  // The firewall names what users' containers may reach: fixed addresses at the bottom of the
  // subnet, users' containers from its upper half, the bridge by a fixed name.
  const net = inputs(resources, "users-network-net");
  assert.deepEqual(net.ipamConfigs, [{ subnet: "172.30.0.0/24", ipRange: "172.30.0.128/25" }]);
  assert.deepEqual(net.options, { "com.docker.network.bridge.name": "semail-users0" });
  assert.equal(outbound.networksAdvanced[1].ipv4Address, "172.30.0.2");
  assert.equal(apt.networksAdvanced[0].ipv4Address, "172.30.0.3");
  assert.equal(
    inputs(resources, "users-firewall").create,
    "bash /usr/local/lib/semail/users-firewall.sh install --bridge semail-users0 --allow 172.30.0.2:587 --allow 172.30.0.3:3142 --unit",
  );

  const ldap = inputs(resources, "ldap-container");
  assert.equal(ldap.restart, "unless-stopped");
  assert.deepEqual(ldap.ports, [{ internal: 389, external: 389, ip: "127.0.0.1" }]);
  assert.ok(ldap.envs.includes("LDAP_BASE_DN=dc=semail,dc=email"));
  assert.ok(!ldap.envs.some((e: string) => e.includes(LDAP_PASSWORD)), "the password is not in the environment");
  assert.deepEqual(ldap.volumes, [{ hostPath: "/var/lib/semail/ldap/data", containerPath: "/var/lib/ldap" }]);

  // The users list is installed by rename, from the parsed list, and checked at each refresh.
  const users = inputs(resources, "users-list");
  assert.equal(find(resources, "users-list").type, "pulumi-nodejs:dynamic/semail:HostCommand");
  assert.match(users.create, /mv -f "\$1\.new" "\$1"' install-users-list \/etc\/semail\/users\.yaml$/);
  assert.match(users.check, /sha256sum < "\$1"' check-users-list \/etc\/semail\/users\.yaml$/);
  assert.deepEqual(parse(users.stdin), { mailboxes: [] });
});

test("the daemons' settings file is valid for config/settings.ts", async () => {
  const { resources } = await runStack(usersYaml(ALICE));
  const text = inputs(resources, "inbound-container").uploads[0].content as string;
  const settings = parseSettings(parse(text), "daemon settings");
  assert.equal(settings.managedDomain, "semail.email");
  assert.equal(settings.hostname, "mx.semail.email");
  assert.equal(settings.inbound.mailRoot, "/var/mail/semail");
  assert.equal(settings.outbound.spool, "/var/spool/semail");
  // Inbound's submission hands over to outbound on the daemons' network (both containers are on it), and outbound starts there.
  assert.equal(settings.inbound.submission.outbound, "semail-outbound:587");
  assert.doesNotThrow(() => checkListenAddresses(settings));
  assert.equal(settings.ldap.url, "ldap://semail-ldap:389");
  assert.equal(settings.users, "/etc/semail/users.yaml");
  // Lists and forwards work on the VM: the lists are read, and both daemons read the one secret.
  assert.equal(settings.inbound.lists.enabled, true);
  assert.equal(settings.outbound.forwardSecretFile, "/etc/semail/secrets/forward.secret");
});

test("the forward secret is made on the VM, never in the program, and both daemons read it", async () => {
  const { resources } = await runStack(usersYaml(ALICE));
  const secret = inputs(resources, "forward-secret");
  assert.match(
    secret.create,
    /head -c 32 \/dev\/urandom .*' make-forward-secret \/etc\/semail\/secrets\/forward\.secret$/,
  );
  assert.equal(secret.stdin, undefined, "no bytes of it pass through the program");
  assert.match(secret.check, /stat -c "%a %s"/, "the check shows its mode and size, never its content");
  for (const daemon of ["inbound-container", "outbound-container"]) {
    const mount = inputs(resources, daemon).mounts.find(
      (m: Inputs) => m.source === "/etc/semail/secrets/forward.secret",
    );
    assert.deepEqual(mount, {
      type: "bind",
      source: "/etc/semail/secrets/forward.secret",
      target: "/etc/semail/secrets/forward.secret",
      readOnly: true,
    });
  }
});

test("with one user: storage, container and MX with the expected inputs", async () => {
  const { resources } = await runStack(usersYaml(ALICE));
  const mailbox = resources.filter((r) => r.name.startsWith("mailbox-alice"));
  assert.deepEqual(mailbox.map((r) => r.name).sort(), [
    "mailbox-alice",
    "mailbox-alice-container",
    "mailbox-alice-jump",
    "mailbox-alice-keys",
    "mailbox-alice-storage",
  ]);

  const storage = find(resources, "mailbox-alice-storage");
  const s = inputs(resources, "mailbox-alice-storage");
  const uid = mailUid("alice");
  assert.equal(
    s.create,
    `bash /usr/local/lib/semail/mailbox-fs.sh create --owner alice --size 1073741824 --mail-root /var/mail/semail --vg semail --uid ${uid} --gid ${uid} --address alice@alice.semail.email`,
  );
  assert.equal(
    s.update,
    `bash /usr/local/lib/semail/mailbox-fs.sh grow --owner alice --size 1073741824 --mail-root /var/mail/semail --vg semail --uid ${uid} --gid ${uid} --address alice@alice.semail.email`,
  );
  assert.equal(s.delete, undefined, "removing the user never deletes the filesystem");
  assert.equal(storage.retainOnDelete, true);

  const c = inputs(resources, "mailbox-alice-container");
  assert.equal(c.name, "semail-user-alice");
  assert.equal(c.image, `sha256:${"a".repeat(64)}`, "the digest of the image built from assets/images/user");
  assert.equal(c.restart, "unless-stopped");
  assert.deepEqual(c.mounts, [
    { type: "bind", source: "/var/mail/semail/alice", target: "/mail", bindOptions: { propagation: "rslave" } },
  ]);
  assert.deepEqual(c.volumes, [
    { hostPath: "/var/lib/semail/host-keys/alice", containerPath: "/etc/ssh/keys" },
    { hostPath: "/var/lib/semail/user-keys/alice", containerPath: "/etc/semail/keys", readOnly: true },
  ]);
  assert.deepEqual(c.capabilities, { drops: ["NET_RAW"] }, "no raw sockets: no ARP forgery on the users' network");

  // Dovecot lets in exactly the live mailboxes, each as its uid (or its address, standing for it), over the same files.
  assert.equal(
    inputs(resources, "imap-users").stdin,
    `alice::${uid}:${uid}::/var/mail/semail/alice::\nalice@alice.semail.email:::::::user=alice noauthenticate\n`,
  );
  const imap = inputs(resources, "imap-container");
  assert.deepEqual(
    imap.ports.map((p: Inputs) => `${p.ip}:${p.external}`),
    ["192.0.2.25:143", "192.0.2.25:993", "192.0.2.25:995", "2001:db8::25:143", "2001:db8::25:993", "2001:db8::25:995"],
  );
  assert.ok(
    imap.envs.includes("IMAP_LDAP_URL=ldap://semail-ldap:389") &&
      imap.envs.includes("IMAP_TRUSTED_NETWORKS=172.30.0.0/24"),
  );
  assert.deepEqual(imap.mounts[0], {
    type: "bind",
    source: "/var/mail/semail",
    target: "/var/mail/semail",
    bindOptions: { propagation: "rslave" },
  });
  assert.deepEqual(c.envs, [
    "SEMAIL_OWNER=alice",
    `SEMAIL_UID=${uid}`,
    `SEMAIL_GID=${uid}`,
    "SEMAIL_ADDRESS=alice@alice.semail.email",
    "SEMAIL_SUBMISSION=semail-outbound:587",
    "SEMAIL_APT_PROXY=http://semail-apt-proxy:3142",
  ]);
  assert.equal(c.uploads, undefined, "the keys are no input of the container's (tests/components/mailbox.test.ts)");
  assert.equal(inputs(resources, "mailbox-alice-keys").stdin, `${ALICE_KEY}\n`);
  assert.deepEqual(c.networksAdvanced, [{ name: "semail-users", aliases: ["alice"] }]);

  const zone = inputs(resources, "zone-install").stdin as string;
  assert.match(zone, /^alice 3600 IN MX 10 mx\.semail\.email\.$/m);
  assert.deepEqual(
    parse(inputs(resources, "users-list").stdin).mailboxes.map((m: Inputs) => m.owner),
    ["alice"],
  );
});

test("with three users: one Mailbox each, MX in the zone for the subdomain, an MX output for the external domain", async () => {
  const { resources, result } = await runStack(usersYaml(ALICE, BOB, CAROL));
  assert.deepEqual(
    resources
      .filter((r) => r.type === "semail:infra:Mailbox")
      .map((r) => r.name)
      .sort(),
    ["mailbox-alice", "mailbox-bob", "mailbox-carol"],
  );
  assert.match(inputs(resources, "mailbox-carol-storage").create, /--owner carol --size 2147483648 /);
  assert.match(inputs(resources, "mailbox-bob-storage").create, /--owner bob --size 5368709120 /, "the default size");
  const zone = inputs(resources, "zone-install").stdin as string;
  assert.deepEqual(zone.match(/^\S+ 3600 IN MX .*$/gm), [
    "@ 3600 IN MX 10 mx.semail.email.",
    "alice 3600 IN MX 10 mx.semail.email.",
  ]);
  assert.deepEqual(result.externalMxRecords, { "bob@example.org": "example.org. 3600 IN MX 10 mx.semail.email." });
  assert.equal((await settle(result.userSshAddresses.bob!)).value, "172.30.0.2");
});

test("adding a user adds only that user's resources", async () => {
  const before = await runStack(usersYaml(ALICE, BOB));
  const after = await runStack(usersYaml(ALICE, BOB, CAROL));
  const added = [...names(after.resources)].filter((n) => !names(before.resources).has(n));
  assert.deepEqual(added.sort(), [
    "command:remote:Command::mailbox-carol-jump",
    "command:remote:Command::mailbox-carol-keys",
    "command:remote:Command::mailbox-carol-storage",
    "docker:index/container:Container::mailbox-carol-container",
    "semail:infra:Mailbox::mailbox-carol",
  ]);
  assert.equal([...names(before.resources)].filter((n) => !names(after.resources).has(n)).length, 0, "nothing removed");
  // Of the existing resources, only the users list and Dovecot's and the webmail's copies of
  // it change, and the webmail's identities follow (carol is in the managed domain: no new MX),
  // and the managed domain, now with a mailbox, gets its autoconfig document.
  const changed = before.resources
    .filter((r) => JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(find(after.resources, r.name).inputs)))
    .map((r) => r.name);
  assert.deepEqual(changed.sort(), [
    "imap-users",
    "users-list",
    "webmail-addresses",
    "webmail-autoconfig",
    "webmail-identities",
  ]);
  assert.match(inputs(after.resources, "webmail-autoconfig").stdin, /^put semail\.email\.xml /m);
});

test("removing a user deletes only that user's resources, and its storage is retained", async () => {
  const before = await runStack(usersYaml(ALICE, BOB, CAROL));
  const after = await runStack(usersYaml(ALICE, CAROL));
  const removed = before.resources.filter((r) => !names(after.resources).has(`${r.type}::${r.name}`));
  assert.deepEqual(removed.map((r) => r.name).sort(), [
    "mailbox-bob",
    "mailbox-bob-container",
    "mailbox-bob-jump",
    "mailbox-bob-keys",
    "mailbox-bob-storage",
  ]);
  const storage = removed.find((r) => r.name === "mailbox-bob-storage")!;
  assert.equal(storage.retainOnDelete, true, "the engine keeps bob's filesystem");
  assert.equal(
    reveal(storage.inputs) && (reveal(storage.inputs) as Inputs).delete,
    undefined,
    "and runs no delete command",
  );
  for (const name of ["mailbox-alice-storage", "mailbox-carol-storage"]) {
    assert.deepEqual(
      reveal(find(after.resources, name).inputs),
      reveal(find(before.resources, name).inputs),
      `${name} untouched`,
    );
  }
});

test("a claim pending its domain's proof is published nowhere; once proven, it gets its resources and MX output", async () => {
  const PENDING = `${BOB}    pendingProof: 0123456789abcdef0123456789abcdef\n`;
  const before = await runStack(usersYaml(ALICE));
  const pending = await runStack(usersYaml(ALICE, PENDING));
  assert.deepEqual(
    [...names(pending.resources)].filter((n) => !names(before.resources).has(n)),
    [],
    "no resource for the claim",
  );
  assert.deepEqual(pending.result.externalMxRecords, {});
  assert.equal(pending.result.userSshAddresses.bob, undefined);
  const zone = (run: typeof before) => inputs(run.resources, "zone-install").stdin as string;
  assert.equal(zone(pending), zone(before), "the zone is unchanged");
  // The daemons get the claim (outbound names why it cannot send), and keep it unserved.
  assert.match(
    inputs(pending.resources, "users-list").stdin as string,
    /pendingProof: 0123456789abcdef0123456789abcdef/,
  );
  const proven = await runStack(usersYaml(ALICE, BOB));
  assert.ok(names(proven.resources).has("semail:infra:Mailbox::mailbox-bob"));
  assert.deepEqual(proven.result.externalMxRecords, {
    "bob@example.org": "example.org. 3600 IN MX 10 mx.semail.email.",
  });
});

test("growing a user's size changes only the update (grow) of that user's storage", async () => {
  const before = await runStack(usersYaml(ALICE));
  const after = await runStack(usersYaml(ALICE.replace("size: 1GiB", "size: 3GiB")));
  const changed = before.resources
    .filter((r) => JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(find(after.resources, r.name).inputs)))
    .map((r) => r.name);
  assert.deepEqual(changed.sort(), ["mailbox-alice-storage", "users-list"]);
  assert.match(
    inputs(after.resources, "mailbox-alice-storage").update,
    /mailbox-fs\.sh grow --owner alice --size 3221225472 /,
  );
});

for (const [label, overrides] of [
  ["bind, lvm, local LDAP", {}],
  [
    "gandi, image files, external LDAP",
    { dnsProvider: "gandi", storageBackend: "image", ldapUrl: "ldaps://ldap.example.net" },
  ],
] as const) {
  test(`no destructive delete on a command with triggers, and nothing destructive unprotected (${label})`, async () => {
    const { resources } = await runStack(usersYaml(ALICE, BOB, CAROL), overrides);
    const commands = resources.filter((r) => COMMANDS.has(r.type));
    assert.ok(commands.length >= 8, "commands were recorded");
    // The jump account setup (triggers) and each owner's key file (a delete) are among them.
    const checked = new Set(commands.map((r) => r.name));
    for (const name of ["host-scripts-jump", "mailbox-alice-jump", "mailbox-bob-jump", "mailbox-carol-jump"])
      assert.ok(checked.has(name), `${name} is checked`);
    for (const r of commands) {
      const i = reveal(r.inputs) as Inputs;
      if (i.triggers !== undefined)
        assert.equal(i.delete, undefined, `${r.name} has triggers and a delete: a trigger change would run it`);
      if (typeof i.delete === "string" && DESTRUCTIVE.test(i.delete)) {
        assert.equal(r.protect, true, `${r.name} deletes destructively (${i.delete}) and must be protected`);
      }
      for (const field of ["create", "update"]) {
        assert.doesNotMatch(
          String(i[field] ?? ""),
          /mailbox-fs\.sh destroy|--yes-destroy-mail/,
          `${r.name}.${field} never destroys mail`,
        );
      }
    }
    for (const r of resources.filter((x) => x.name.endsWith("-storage")))
      assert.equal(r.retainOnDelete, true, `${r.name} retained`);
  });
}

for (const [label, overrides] of [
  ["bind", {}],
  ["gandi", { dnsProvider: "gandi" }],
] as const) {
  test(`secrets stay secret in every input and output (${label})`, async () => {
    const { resources, result } = await runStack(usersYaml(ALICE, BOB, CAROL), overrides);
    for (const r of resources) {
      for (const secret of [SSH_KEY, LDAP_PASSWORD, GANDI_KEY]) {
        assert.deepEqual(plainOccurrences(r.inputs, secret), [], `${r.name} carries a secret in plain text`);
      }
    }
    // The secrets did reach the resources that need them (so the check above is not vacuous).
    assert.match(JSON.stringify(reveal(find(resources, "vm-create").inputs)), /test-only-key/);
    if (label === "gandi") assert.equal((reveal(find(resources, "gandi").inputs) as Inputs).key, GANDI_KEY);
    else assert.equal((inputs(resources, "ldap-container").uploads as Inputs[])[0]!.content, LDAP_PASSWORD);
    const outputs: Record<string, unknown> = { ...result, ...result.userSshAddresses };
    for (const [name, output] of Object.entries(outputs)) {
      const { value, secret } = await settle(output as never);
      for (const s of [SSH_KEY, LDAP_PASSWORD, GANDI_KEY]) {
        if (JSON.stringify(value ?? null).includes(JSON.stringify(s).slice(1, -1)))
          assert.ok(secret, `output ${name} reveals a secret`);
      }
    }
  });
}

test("gandi: LiveDNS records instead of named, and the subdomain's MX belongs to its Mailbox", async () => {
  const { resources } = await runStack(usersYaml(ALICE, BOB), { dnsProvider: "gandi" });
  assert.ok(!resources.some((r) => r.name === "zone-install"), "no named install");
  const records = resources
    .filter((r) => r.type === "gandi:livedns/record:Record")
    .map((r): Inputs => ({ ...(reveal(r.inputs) as Inputs), resource: r.name }));
  const apexMx = records.find((r) => r.resource === "zone-apex-mx");
  assert.deepEqual(apexMx && { zone: apexMx.zone, name: apexMx.name, values: apexMx.values }, {
    zone: "semail.email",
    name: "@",
    values: ["10 mx.semail.email."],
  });
  assert.ok(!records.some((r) => r.type === "SOA"), "Gandi owns the SOA");
  const mx = records.find((r) => r.resource === "mailbox-alice-mx");
  assert.deepEqual(mx && { name: mx.name, type: mx.type, values: mx.values }, {
    name: "alice",
    type: "MX",
    values: ["10 mx.semail.email."],
  });
  assert.equal(records.filter((r) => r.type === "MX").length, 2, "apex and alice; bob's domain is external");
  assert.match(find(resources, "mailbox-alice-mx").parent, /Mailbox::mailbox-alice$/);
  // What mail programs look up: the apex's with the zone, alice's subdomain's with her Mailbox.
  const imaps = records.find((r) => r.resource === "mailbox-alice-imaps-srv");
  assert.deepEqual(imaps && { name: imaps.name, type: imaps.type, values: imaps.values }, {
    name: "_imaps._tcp.alice",
    type: "SRV",
    values: ["0 1 993 mx.semail.email."],
  });
  assert.deepEqual(records.find((r) => r.resource === "mailbox-alice-autoconfig-cname")?.values, [
    "autoconfig.semail.email.",
  ]);
  assert.deepEqual(records.find((r) => r.resource === "zone-autoconfig-a")?.values, ["192.0.2.25"]);
  assert.equal(
    records.filter((r) => r.type === "SRV").length,
    12,
    "the apex's six and alice's; none for bob's external domain",
  );
});

test("an external LDAP URL makes no slapd; image storage makes no volume group", async () => {
  const { resources, result } = await runStack(usersYaml(ALICE), {
    ldapUrl: "ldaps://ldap.example.net",
    storageBackend: "image",
  });
  assert.ok(!resources.some((r) => r.type === "semail:infra:LdapServer"));
  // Outbound still has a network with a way out (the users' network is internal).
  assert.deepEqual(
    inputs(resources, "outbound-container").networksAdvanced.map((n: Inputs) => n.name),
    ["semail-services", "semail-users"],
  );
  assert.equal(inputs(resources, "services-net").internal, undefined);
  assert.equal(inputs(resources, "users-network-net").internal, true);
  assert.equal(result.ldapUrl, "ldaps://ldap.example.net");
  assert.ok(!resources.some((r) => r.type === "semail:infra:VolumeGroup"));
  assert.equal(
    inputs(resources, "mailbox-alice-storage").create,
    `bash /usr/local/lib/semail/mailbox-fs.sh create --owner alice --size 1073741824 --mail-root /var/mail/semail --image-dir /var/lib/semail/images --uid ${mailUid("alice")} --gid ${mailUid("alice")} --address alice@alice.semail.email`,
  );
  assert.ok(!resources.some((r) => r.name === "image-directory-build"), "no directory image without a local slapd");
  assert.equal(
    parseSettings(parse(inputs(resources, "outbound-container").uploads[0].content), "s").ldap.url,
    "ldaps://ldap.example.net",
  );
});

test("a bad config fails naming the setting", async () => {
  await assert.rejects(
    runStack(usersYaml(), { storageBackend: "zfs" }),
    /semail:storageBackend "zfs" is not valid: use "lvm" or "image"/,
  );
  await assert.rejects(runStack(usersYaml(), { vmIp: "not-an-ip" }), /semail:vmIp "not-an-ip" is not an IPv4 address/);
  await assert.rejects(
    runStack("mailboxes:\n  - owner: Bob!\n    address: bob@example.org\n"),
    /mailboxes\[0\]\.owner "Bob!" is not a valid uid/,
  );
});

test("an image named in the stack settings is used as it is, and nothing is built for it", async () => {
  const { resources } = await runStack(usersYaml(ALICE), {
    userImage: "registry.example/semail-user:7",
    daemonImage: "registry.example/semail-daemons:7",
  });
  assert.equal(inputs(resources, "mailbox-alice-container").image, "registry.example/semail-user:7");
  assert.equal(inputs(resources, "inbound-container").image, "registry.example/semail-daemons:7");
  assert.ok(!resources.some((r) => r.name === "image-user-build" || r.name === "image-daemons-build"));
  assert.ok(
    resources.some((r) => r.name === "image-apt-proxy-build"),
    "the others are still built",
  );
});

test("the users' network plan: services at the bottom, users' containers in the upper half", () => {
  assert.deepEqual(usersNetworkPlan("172.30.0.0/24"), {
    outboundIp: "172.30.0.2",
    aptProxyIp: "172.30.0.3",
    userRange: "172.30.0.128/25",
  });
  assert.deepEqual(usersNetworkPlan("10.20.0.0/16"), {
    outboundIp: "10.20.0.2",
    aptProxyIp: "10.20.0.3",
    userRange: "10.20.128.0/17",
  });
  assert.deepEqual(usersNetworkPlan("192.168.7.16/28"), {
    outboundIp: "192.168.7.18",
    aptProxyIp: "192.168.7.19",
    userRange: "192.168.7.24/29",
  });
});

test("an existing host: no VM on dom0, the host reached directly, its key given to docker's ssh, docker only after its packages", async () => {
  const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5";
  const { resources, result } = await runStack(usersYaml(ALICE), {
    vmProvider: "existing",
    storageBackend: "image",
    vmHostKey: hostKey,
    dom0Host: "",
    dom0HostKey: "",
    vmGateway: "",
    vmDataDisk: "",
  });
  assert.ok(!resources.some((r) => r.type === "semail:infra:XenVm"), "no Xen VM");
  assert.ok(!resources.some((r) => r.type === "semail:infra:VolumeGroup"), "image files, no volume group");
  const scripts = inputs(resources, "host-scripts-packages");
  assert.equal(scripts.connection.host, "192.0.2.25");
  assert.equal(scripts.connection.proxy, undefined, "no dom0 to jump through");
  assert.equal(scripts.connection.hostKey, hostKey);
  const provider = resources.find((r) => r.type === "pulumi:providers:docker");
  assert.ok(provider, "a docker provider");
  assert.equal(provider.inputs.host, "ssh://root@192.0.2.25");
  assert.deepEqual(JSON.parse(provider.inputs.sshOpts as string), [
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `KnownHostsCommand=/bin/echo %H ${hostKey}`,
  ]);
  assert.ok(
    provider.dependencies.some((d) => d.endsWith("::host-scripts-packages")),
    `docker waits for docker.io: ${provider.dependencies.join(", ")}`,
  );
  assert.equal((await settle(result.vmAddress)).value, "192.0.2.25");
});

test("transport security: the zone publishes MTA-STS and TLS-RPT from the settings, and TLSA from the key hashes read on the VM", async () => {
  const { resources } = await runStack(usersYaml(ALICE, BOB), {
    mtaStsMode: "testing",
    tlsRptRua: "mailto:tls@example.net",
    tlsNextKey: "/etc/semail/tls/next.pem",
  });
  const read = inputs(resources, "tls-spki");
  assert.equal(read.create, tlsaReadCommand("/etc/semail/tls/fullchain.pem", "/etc/semail/tls/next.pem"));
  assert.equal(read.connection.host, "192.0.2.25");
  const zone = inputs(resources, "zone-install").stdin as string;
  const id = mtaStsId(mtaStsPolicy("semail.email", { mtaStsMode: "testing", mtaStsMaxAge: 604800 }));
  assert.match(zone, new RegExp(`^_mta-sts 3600 IN TXT "v=STSv1; id=${id}"$`, "m"));
  assert.match(zone, new RegExp(`^_mta-sts\\.alice 3600 IN TXT "v=STSv1; id=${id}"$`, "m"));
  assert.match(zone, /^_smtp\._tls\.alice 3600 IN TXT "v=TLSRPTv1; rua=mailto:tls@example\.net"$/m);
  assert.match(zone, /^mta-sts 3600 IN A 192\.0\.2\.25$/m);
  assert.match(zone, /^mta-sts\.alice 3600 IN CNAME mta-sts\.semail\.email\.$/m);
  assert.doesNotMatch(zone, /TLSA/, "the mocked read printed no hash: no TLSA rather than a wrong one");
  assert.doesNotMatch(zone, /example\.org/);

  // What the read prints becomes the TLSA record set, on named or at Gandi.
  const [current, next] = ["1".repeat(64), "2".repeat(64)];
  const vm = { host: "192.0.2.25", user: "root", privateKey: "k" };
  const zoneInput = { domain: "semail.email", ipv4: "192.0.2.25", mailboxDomains: [] };
  const bind = await record(
    {},
    [],
    () => new DnsZone("z", { zone: zoneInput, tlsa: [current, next], provider: "bind", vm }),
  );
  assert.match(
    inputs(bind.resources, "z-install").stdin,
    new RegExp(`^_25\\._tcp\\.mx 3600 IN TLSA 3 1 1 ${current}$`, "m"),
  );
  assert.match(
    inputs(bind.resources, "z-install").stdin,
    new RegExp(`^_25\\._tcp\\.mx 3600 IN TLSA 3 1 1 ${next}$`, "m"),
  );
  const gandi = await record({}, [], () => {
    const provider = new gandiProvider.Provider("g", { key: "k" });
    return new DnsZone("z", { zone: zoneInput, tlsa: [current], provider: "gandi", gandi: provider });
  });
  const tlsa = inputs(gandi.resources, "z-tlsa");
  assert.deepEqual([tlsa.name, tlsa.type, tlsa.values], ["_25._tcp.mx", "TLSA", [`3 1 1 ${current}`]]);
  // At Gandi, a subdomain's own records are its Mailbox's, as its MX is.
  const atGandi = await runStack(usersYaml(ALICE), { dnsProvider: "gandi", mtaStsMode: "testing" });
  const gandiRecord = (name: string) => {
    const r = inputs(atGandi.resources, name);
    return [r.name, r.type, r.values];
  };
  assert.deepEqual(gandiRecord("mailbox-alice-mta-sts-txt"), ["_mta-sts.alice", "TXT", [`"v=STSv1; id=${id}"`]]);
  assert.deepEqual(gandiRecord("mailbox-alice-mta-sts-cname"), ["mta-sts.alice", "CNAME", ["mta-sts.semail.email."]]);
  assert.deepEqual(gandiRecord("mailbox-alice-smtp-txt"), [
    "_smtp._tls.alice",
    "TXT",
    ['"v=TLSRPTv1; rua=mailto:postmaster@semail.email"'],
  ]);
  assert.deepEqual(gandiRecord("zone-mta-sts-a"), ["mta-sts", "A", ["192.0.2.25"]]);
});

test("ACME by DNS-01 edits the very zone the DnsZone installs: its folder and file mounted in `semail cert`'s container, after the install; every name in the zone", async () => {
  const key = "-----BEGIN PRIVATE KEY-----\nSTACKACMEKEY\n-----END PRIVATE KEY-----\n";
  const { resources } = await runStack(usersYaml(ALICE), {
    acmeAccountKey: key,
    acmeNames: "mx.semail.email,*.semail.email,*.alice.semail.email",
  });
  const zoneDir = /--zone-dir (\S+)/.exec(inputs(resources, "zone-install").create)![1]!;
  const settings = parse(inputs(resources, "acme-settings").stdin as string);
  assert.equal(settings.acme.zoneFile, `${zoneDir}/db.semail.email`);
  assert.deepEqual(settings.acme.installZone.slice(1, 3), ["--zone-dir", zoneDir]);
  assert.deepEqual(settings.acme.names, ["mx.semail.email", "*.semail.email", "*.alice.semail.email"]);
  const timer = inputs(resources, "acme-timer").stdin as string;
  const service = timer.split("\n").find((l) => l.startsWith("ExecStart=/usr/bin/docker run "))!;
  assert.ok(service.includes(` -v ${zoneDir}:${zoneDir} `), service);
  assert.ok(service.includes(" --network host "), service);
  assert.ok(service.includes(" -v /etc/bind/rndc.key:/etc/bind/rndc.key:ro "), service);
  assert.ok(
    find(resources, "acme").dependencies.some((urn) => urn.endsWith("::zone-install")),
    "after the zone's install",
  );
  for (const r of resources) assert.deepEqual(plainOccurrences(r.inputs, "STACKACMEKEY"), [], r.name);
});
