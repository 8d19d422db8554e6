// Local mode's users' space, the parts that need no engine: the network's address plan,
// the firewall's rules, outbound's settings for the containers, a container's settings,
// and image tags that change only with their inputs. tests/e2e/user-space.test.ts runs it all.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { mailUid } from "../../../config/mail-uid.ts";
import { loadSettings } from "../../../config/settings.ts";
import { checkListenAddresses } from "../../../mailservers/outbound/daemon.ts";
import { userRunArgs } from "../../../deploy/local/containers.ts";
import { DEFAULT_PORTS, localSettingsYaml } from "../../../deploy/local/defaults.ts";
import { localImageTags } from "../../../deploy/local/images.ts";
import { settingsWithUsersNetwork } from "../../../deploy/local/user-space.ts";
import { firewallRules } from "../../../deploy/local/users-firewall.ts";
import { addressPlan } from "../../../deploy/local/users-network.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("the users' network: the host is .1, the jump .2, the apt proxy .3, the containers the upper half", () => {
  assert.deepEqual(addressPlan("10.213.4.0/24"), {
    gateway: "10.213.4.1",
    jumpIp: "10.213.4.2",
    aptIp: "10.213.4.3",
    ipRange: "10.213.4.128/25",
  });
  assert.deepEqual(addressPlan("172.18.0.0/16"), {
    gateway: "172.18.0.1",
    jumpIp: "172.18.0.2",
    aptIp: "172.18.0.3",
    ipRange: "172.18.128.0/17",
  });
  assert.throws(() => addressPlan("fd00::/64"), /IPv4 subnet/);
  assert.throws(() => addressPlan("10.0.0.0/30"), /IPv4 subnet/);
});

test("the firewall drops all but the jump's new flows to port 22 and the apt proxy's port on the bridge, and the submission port on the host", () => {
  const { chains, hooks } = firewallRules({
    id: "abcd1234",
    bridge: "semail-uabcd12",
    gateway: "10.213.4.1",
    submissionPort: 2587,
    jumpIp: "10.213.4.2",
    apt: { ip: "10.213.4.3", port: 3142, bridge: "semail-aabcd12", subnet: "10.213.5.0/24" },
  });
  const fwd = chains.filter(([, chain]) => chain === "SEMAIL-abcd1234-FWD").map(([, , ...spec]) => spec.join(" "));
  assert.deepEqual(fwd, [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
    "-i semail-uabcd12 -o semail-uabcd12 -s 10.213.4.2 -p tcp --dport 22 -m conntrack --ctstate NEW -j RETURN",
    "-i semail-uabcd12 -o semail-uabcd12 -d 10.213.4.3 -p tcp --dport 3142 -m conntrack --ctstate NEW -j RETURN",
    "-j DROP",
  ]);
  const input = chains.filter(([, chain]) => chain === "SEMAIL-abcd1234-IN").map(([, , ...spec]) => spec.join(" "));
  assert.deepEqual(input, [
    "-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
    "-d 10.213.4.1 -p tcp --dport 2587 -m conntrack --ctstate NEW -j RETURN",
    "-j DROP",
  ]);
  // Both directions of forwarding and everything to the host pass our chains, in mangle (which Docker leaves alone).
  assert.deepEqual(
    hooks.filter(([table]) => table === "mangle").map((h) => h.slice(1).join(" ")),
    [
      "FORWARD -i semail-uabcd12 -j SEMAIL-abcd1234-FWD",
      "FORWARD -o semail-uabcd12 -j SEMAIL-abcd1234-FWD",
      "INPUT -i semail-uabcd12 -j SEMAIL-abcd1234-IN",
    ],
  );
});

test("outbound also listens on the bridge's gateway, a container network it trusts for AUTH without TLS", async (t) => {
  const dir = await tempDir(t, "semail-space-settings-");
  await writeFile(join(dir, "semail.yaml"), localSettingsYaml(dir, DEFAULT_PORTS, "dc=semail,dc=test"));
  const settings = settingsWithUsersNetwork(await loadSettings(join(dir, "semail.yaml")), {
    gateway: "10.213.4.1",
    subnet: "10.213.4.0/24",
  });
  assert.deepEqual(
    settings.outbound.listen.map((l) => [l.spec, l.host, l.port]),
    [
      ["127.0.0.1:2587", "127.0.0.1", 2587],
      ["10.213.4.1:2587", "10.213.4.1", 2587],
    ],
  );
  assert.deepEqual(
    settings.outbound.containerNetworks.map((n) => [n.address, n.prefix]),
    [["10.213.4.0", 24]],
  );
  assert.deepEqual(
    settings.outbound.trustedNetworks.map((n) => [n.address, n.prefix]),
    [["10.213.4.0", 24]],
  );
  checkListenAddresses(settings);
});

test("a user's container: its mail root at /mail (rslave), the root-owned keys' directory read-only, its own uid, outbound on the gateway, no IPv6 or raw sockets", () => {
  const args = userRunArgs(
    { owner: "alice", address: "alice@alice.semail.test" },
    {
      dir: "/d/containers",
      mailRoot: "/d/mail",
      images: { user: "semail-local/user:x", aptProxy: "semail-local/apt-proxy:z", jump: "semail-local/jump:y" },
      network: {
        name: "semail-abcd1234-users",
        bridge: "semail-uabcd12",
        subnet: "10.213.4.0/24",
        gateway: "10.213.4.1",
        jumpIp: "10.213.4.2",
        jumpNetwork: "semail-abcd1234-jump",
        aptIp: "10.213.4.3",
        aptNetwork: "semail-abcd1234-apt",
        aptBridge: "semail-aabcd12",
        aptSubnet: "10.213.5.0/24",
      },
      submission: "10.213.4.1:2587",
      aptProxy: "http://10.213.4.3:3142",
    },
  );
  const text = args.join(" ");
  assert.match(text, /--mount type=bind,source=\/d\/mail\/alice,target=\/mail,bind-propagation=rslave/);
  // The keys' directory, not the file: the file is renamed over at a key change, which a file mount would not see.
  assert.match(text, /--mount type=bind,source=\/d\/containers\/alice\/keys,target=\/etc\/semail\/keys,readonly/);
  assert.match(text, /--restart unless-stopped/);
  assert.match(text, /--network semail-abcd1234-users /);
  assert.match(text, /--cap-drop NET_RAW/);
  assert.match(text, /--sysctl net\.ipv6\.conf\.all\.disable_ipv6=1/);
  for (const env of [
    `SEMAIL_UID=${mailUid("alice")}`,
    `SEMAIL_GID=${mailUid("alice")}`,
    "SEMAIL_OWNER=alice",
    "SEMAIL_SUBMISSION=10.213.4.1:2587",
    "SEMAIL_APT_PROXY=http://10.213.4.3:3142",
  ]) {
    assert.ok(args.includes(env), env);
  }
  assert.equal(args.at(-1), "semail-local/user:x");
});

test("image tags follow their inputs: the same files and base give the same tag, another base another", async () => {
  const first = await localImageTags("sha256:aaa");
  assert.deepEqual(await localImageTags("sha256:aaa"), first);
  assert.match(first.user, /^semail-local\/user:[0-9a-f]{12}$/);
  assert.match(first.jump, /^semail-local\/jump:[0-9a-f]{12}$/);
  const other = await localImageTags("sha256:bbb");
  assert.notEqual(other.user, first.user);
  assert.notEqual(other.jump, first.jump);
});
