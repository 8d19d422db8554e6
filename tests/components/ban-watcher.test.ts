// The ban watcher on the VM under Pulumi's mocks: its settings, written root-only, are what
// `semail bans run` takes (the containers' logs through the Docker CLI, the host sshd's journal,
// the chain hooked into INPUT and DOCKER-USER, the networks never banned); the unit runs the
// daemons image always, on the host's network with the capabilities iptables needs and the
// mounts the sources read; removing it lifts every ban; the stack makes one unless banEnabled
// is false, never banning the users' network nor the admins' banAllow.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import {
  BanWatcher,
  banRemoveCommand,
  banUnit,
  validateBanWatcher,
  type BanWatcherArgs,
} from "../../components/ban-watcher.ts";
import { parseSettings } from "../../config/settings.ts";
import { findResource, inputsOf, record } from "../../testkit/pulumi-mocks/harness.ts";
import { CAROL, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";

function args(over: Partial<BanWatcherArgs> = {}): BanWatcherArgs {
  return {
    vm: { host: "192.0.2.10", user: "root" },
    image: "sha256:abc",
    configDir: "/etc/semail/bans",
    stateDir: "/var/lib/semail/bans",
    logs: [
      { parser: "smtp", container: "semail-inbound" },
      { parser: "dovecot", container: "semail-imap" },
      { parser: "sshd", unit: "ssh" },
    ],
    allow: ["172.30.0.0/24", "198.51.100.0/24"],
    ...over,
  };
}

const execStart = (unit: string) =>
  unit
    .split("\n")
    .find((l) => l.startsWith("ExecStart="))!
    .slice("ExecStart=".length);

test("the settings, root-only, are what semail bans run takes: the sources, the hooks, the allow-list", async () => {
  const { resources } = await record({}, [], () => new BanWatcher("bans", args()));
  assert.equal(findResource(resources, "bans-settings").parent.endsWith("::bans"), true);
  const s = inputsOf(resources, "bans-settings");
  assert.match(s.create, /install -d -m 0700/);
  assert.match(s.create, /umask 077/);
  const settings = parseSettings(parse(s.stdin as string), "the VM's ban settings");
  assert.deepEqual(settings.bans.hookFrom, ["INPUT", "DOCKER-USER"]);
  assert.equal(settings.bans.chain, "SEMAIL-BANS");
  assert.equal(settings.bans.stateDir, "/var/lib/semail/bans");
  assert.deepEqual(
    settings.bans.sources.map((x) => [x.parser, x.command.join(" ")]),
    [
      ["smtp", "docker logs --follow --since 0s semail-inbound"],
      ["dovecot", "docker logs --follow --since 0s semail-imap"],
      ["sshd", "journalctl --follow --lines 0 --output cat --unit ssh"],
    ],
  );
  assert.equal(settings.bans.allow.length, 2);
  assert.deepEqual(parse(s.stdin as string).bans.allow, ["172.30.0.0/24", "198.51.100.0/24"]);

  const service = findResource(resources, "bans-service");
  assert.ok(service.dependencies.some((urn) => urn.endsWith("::bans-settings")));
  const script = inputsOf(resources, "bans-service").stdin as string;
  assert.match(script, /systemctl restart semail-bans\.service/);
  assert.match(script, /# settings sha256 [0-9a-f]{64}/, "new settings re-run the script");
  assert.equal(inputsOf(resources, "bans-service").triggers, undefined, "no replacement: its delete lifts the bans");
});

test("the unit: always restarted, the daemons image on the host's network with NET_ADMIN and NET_RAW and the mounts its sources read", () => {
  const unit = banUnit(args(), "sha256:abc");
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, /^Requires=docker\.service$/m);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
  const run = execStart(unit);
  assert.match(run, /^\/usr\/bin\/docker run --rm --name semail-bans --network host /);
  assert.match(run, / --cap-add NET_ADMIN --cap-add NET_RAW /);
  for (const mount of [
    "/var/lib/semail/bans:/var/lib/semail/bans",
    "/etc/semail/bans:/etc/semail/bans:ro",
    "/var/run/docker.sock:/var/run/docker.sock",
    "/var/log/journal:/var/log/journal:ro",
    "/run/log/journal:/run/log/journal:ro",
    "/etc/machine-id:/etc/machine-id:ro",
  ])
    assert.ok(run.includes(` -v ${mount} `), mount);
  assert.doesNotMatch(run, /--privileged/);
  assert.match(run, / sha256:abc bans run --config \/etc\/semail\/bans\/semail\.yaml$/);
});

test("removing the watcher lifts every ban: the jumps and the chain, in both families", () => {
  const remove = banRemoveCommand();
  for (const program of ["iptables", "ip6tables"]) {
    for (const hook of ["INPUT", "DOCKER-USER"])
      assert.ok(remove.includes(`${program} -w 10 -D ${hook} -j SEMAIL-BANS`), `${program} ${hook}`);
    assert.ok(remove.includes(`${program} -w 10 -X SEMAIL-BANS`), program);
  }
  assert.match(remove, /systemctl disable --now semail-bans\.service/);
});

test("bad arguments are refused, naming what is wrong", async () => {
  assert.deepEqual(validateBanWatcher(args()), []);
  assert.match(validateBanWatcher(args({ logs: [] })).join("\n"), /at least one log/);
  assert.match(
    validateBanWatcher(args({ logs: [{ parser: "smtp", container: "x; rm -rf /" }] })).join("\n"),
    /"x; rm -rf \/" is not a container or unit name/,
  );
  assert.match(validateBanWatcher(args({ stateDir: "var/bans" })).join("\n"), /"var\/bans" is not an absolute path/);
});

test("the stack: a watcher by default, on the daemons, Dovecot and sshd, never banning the users' network nor banAllow; none when banEnabled is false", async () => {
  const { resources } = await runStack(usersYaml(CAROL), { banAllow: "198.51.100.0/24, 2001:db8:1::/48" });
  assert.equal(resources.filter((r) => r.type === "semail:infra:BanWatcher").length, 1);
  const settings = parse(inputsOf(resources, "bans-settings").stdin as string);
  assert.deepEqual(settings.bans.allow, ["172.30.0.0/24", "198.51.100.0/24", "2001:db8:1::/48"]);
  assert.deepEqual(
    settings.bans.sources.map((x: { parser: string; command: string[] }) => `${x.parser} ${x.command.at(-1)}`),
    ["smtp semail-inbound", "smtp semail-outbound", "dovecot semail-imap", "sshd ssh"],
  );
  assert.match(inputsOf(resources, "bans-service").stdin as string, /--network host/);

  const off = await runStack(usersYaml(CAROL), { banEnabled: "false" });
  assert.equal(
    off.resources.some((r) => r.type === "semail:infra:BanWatcher" || r.name.startsWith("bans-")),
    false,
  );
});
