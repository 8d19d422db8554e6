// The test rig's stand-in pulumi-resource-docker (testkit/rig/providers/docker): its rules on
// their own (diff, .dockerignore, settings, the ssh wrapper, uploads), then under the real
// Pulumi engine against a real dockerd: build, run, clean previews, drift seen and repaired,
// replacements, rebuilds, destroy; and once over ssh:// through an sshd of the test's own.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation/index.js";
import { dockerEngine, withLock, type DockerEngine } from "../../../testkit/docker.ts";
import { REPO_ROOT } from "../../../testkit/repo-path.ts";
import { engineMissing, rigEngine, type RigEngine } from "../../../testkit/rig/engine.ts";
import { createArgs } from "../../../testkit/rig/providers/docker/container/create-args.ts";
import { containerOutputs } from "../../../testkit/rig/providers/docker/container/read-back.ts";
import { CONTAINER_RULES, samePorts } from "../../../testkit/rig/providers/docker/container/rules.ts";
import { uploadTar } from "../../../testkit/rig/providers/docker/container/upload-tar.ts";
import { DockerCliError, dockerEnv, isNoSuchObject } from "../../../testkit/rig/providers/docker/docker-cli.ts";
import { contextDigest } from "../../../testkit/rig/providers/docker/image/context-digest.ts";
import {
  compilePatterns,
  isIgnored,
  readDockerignore,
} from "../../../testkit/rig/providers/docker/image/dockerignore.ts";
import { checkImage, diffImage } from "../../../testkit/rig/providers/docker/image/image.ts";
import { dockerTarget } from "../../../testkit/rig/providers/docker/provider-config.ts";
import { diffFields, type FieldRules } from "../../../testkit/rig/providers/docker/rules/field-rules.ts";
import { UNKNOWN } from "../../../testkit/rig/providers/docker/wire.ts";
import { sshdMissing, startTestSshd } from "../../../testkit/rig/providers/sshd-fixture.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const run = promisify(execFile);
const STEP_MS = 180_000;
const BASE = "debian:bookworm-slim";

// ---------------------------------------------------------------- the rules on their own

test("a ForceNew change replaces, an update field updates, Defaults and Computed leave no diff", () => {
  const rules: FieldRules = {
    image: { shape: "string", forceNew: true },
    hostname: { shape: "string", forceNew: true, computed: true },
    envs: { shape: "stringSet", forceNew: true },
    restart: { shape: "string", default: "no" },
    mustRun: { shape: "bool", default: true },
  };
  const state = { image: "sha256:a", hostname: "4f2a9c", envs: ["B=2", "A=1"], restart: "no", mustRun: true };
  assert.deepEqual(diffFields(rules, state, { image: "sha256:a", envs: ["A=1", "B=2"] }), {
    changes: {},
    replaces: [],
  });
  assert.deepEqual(diffFields(rules, state, { image: "sha256:b", envs: ["A=1", "B=2"], restart: "always" }), {
    changes: { image: "update", restart: "update" },
    replaces: ["image"],
  });
  // A stopped container reads mustRun false: the program's default true is an update.
  assert.deepEqual(
    diffFields(rules, { ...state, mustRun: false }, { image: "sha256:a", envs: ["A=1", "B=2"] }).changes,
    { mustRun: "update" },
  );
  // An unknown value (a preview before the image is built) may differ.
  assert.deepEqual(diffFields(rules, state, { image: UNKNOWN, envs: ["A=1", "B=2"] }).replaces, ["image"]);
  assert.deepEqual(diffFields(rules, state, { image: "sha256:a" }), {
    changes: { envs: "delete" },
    replaces: ["envs"],
  });
});

test("ports compare as upstream's suppress func does: any order, an unset external port matches", () => {
  const read = [
    { internal: 587, external: 587, ip: "127.0.0.1", protocol: "tcp" },
    { internal: 25, external: 25, ip: "0.0.0.0", protocol: "tcp" },
  ];
  assert.ok(
    samePorts(read, [
      { internal: 25, external: 25 },
      { internal: 587, external: 587, ip: "127.0.0.1" },
    ]),
  );
  assert.ok(samePorts(read, [{ internal: 25 }, { internal: 587, ip: "127.0.0.1" }]));
  assert.ok(
    !samePorts(read, [
      { internal: 25, external: 26 },
      { internal: 587, external: 587, ip: "127.0.0.1" },
    ]),
  );
  assert.ok(!samePorts([], [{ internal: 25, external: 25 }]));
});

test(".dockerignore patterns match as Docker's patternmatcher does", () => {
  const patterns = compilePatterns(
    readDockerignore("# comment\n/.git\nnode_modules/@pulumi\n*.img\n**/*.log\n!keep.log\ndocs/**\n"),
  );
  const ignored = (path: string) => isIgnored(patterns, path);
  assert.ok(ignored(".git/HEAD"), "a folder takes its contents");
  assert.ok(ignored("node_modules/@pulumi/pulumi/index.js"));
  assert.ok(!ignored("node_modules/yaml/index.js"));
  assert.ok(ignored("disk.img") && !ignored("sub/disk.img"), "* stays within one folder");
  assert.ok(ignored("a/b/c.log") && ignored("c.log"), "** crosses folders, and none");
  assert.ok(!ignored("keep.log"), "! re-includes");
  assert.ok(ignored("docs/x/y.md") && !ignored("docsx"));
});

test("the build context digest changes with what Docker would send, not with what it ignores", async (t) => {
  const dir = await tempDir(t, "semail-rig-context-");
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\n");
  await writeFile(join(dir, ".dockerignore"), "ignored.txt\n");
  await writeFile(join(dir, "kept.txt"), "one\n");
  await writeFile(join(dir, "ignored.txt"), "one\n");
  const first = await contextDigest(dir, join(dir, "Dockerfile"));
  await writeFile(join(dir, "ignored.txt"), "two\n");
  assert.equal(await contextDigest(dir, join(dir, "Dockerfile")), first);
  await writeFile(join(dir, "kept.txt"), "two\n");
  assert.notEqual(await contextDigest(dir, join(dir, "Dockerfile")), first);
});

test("Image: Check fills upstream's defaults and the digest; Diff compares the saved inputs", async (t) => {
  const dir = await tempDir(t, "semail-rig-image-");
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\n");
  const news = {
    imageName: "x:latest",
    build: { context: dir, dockerfile: join(dir, "Dockerfile"), args: { BASE } },
    skipPush: true,
  };
  const { inputs, failures } = await checkImage(news);
  assert.deepEqual(failures, []);
  const build = inputs.build as Record<string, unknown>;
  assert.equal(build.platform, process.arch === "x64" ? "linux/amd64" : `linux/${process.arch}`);
  assert.match(String(build.contextDigest), /^[0-9a-f]{64}$/);
  assert.equal(inputs.buildOnPreview, false);
  assert.deepEqual(diffImage({ __inputs: inputs, repoDigest: "sha256:1" }, inputs), {
    changes: {},
    replaces: [],
    deleteBeforeReplace: false,
  });
  assert.deepEqual(
    diffImage({ __inputs: inputs }, { ...inputs, build: { ...build, args: { BASE: "other" } } }).changes,
    { build: "update" },
  );
  const pushing = await checkImage({ ...news, skipPush: false });
  assert.match(pushing.failures[0]?.reason ?? "", /not supported by the SEMail test rig stand-in/);
  await assert.rejects(
    checkImage({ ...news, build: { context: dir, dockerfile: join(dir, "Nope") } }),
    /expected a relative Dockerfile path/,
  );
});

test("the provider settings: host and sshOpts as the engine sends them; anything else fails loudly", () => {
  const target = dockerTarget(
    new Map([
      ["docker:config:host", "ssh://semail@192.0.2.1"],
      ["docker:config:sshOpts", '["-o","StrictHostKeyChecking=yes"]'],
    ]),
    {},
  );
  assert.deepEqual(target, { host: "ssh://semail@192.0.2.1", sshOpts: ["-o", "StrictHostKeyChecking=yes"] });
  assert.equal(dockerTarget(new Map(), { DOCKER_HOST: "unix:///run/x.sock" }).host, "unix:///run/x.sock");
  assert.throws(
    () => dockerTarget(new Map([["docker:config:certPath", "/etc/docker"]]), {}),
    /"certPath" is not supported by the SEMail test rig stand-in/,
  );
  assert.throws(() => dockerTarget(new Map([["docker:config:host", "tcp://127.0.0.1:2375"]]), {}), /not supported/);
});

test("the ssh the docker CLI runs gets the sshOpts in front, each argument intact", async (t) => {
  const dir = await tempDir(t, "semail-rig-ssh-wrapper-");
  // A "real ssh" that prints what it was given, one argument a line.
  const echo = join(dir, "echo-args");
  await writeFile(echo, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
  const env = dockerEnv(
    { host: "ssh://u@h", sshOpts: ["-o", "ProxyJump=a b", "-i", '/k/"$(x)'] },
    { PATH: process.env.PATH },
  );
  assert.ok(env.PATH?.startsWith(join(REPO_ROOT, "testkit/rig/providers/docker/ssh-bin")));
  const { stdout } = await run("ssh", ["-T", "--", "h", "docker", "system", "dial-stdio"], {
    env: { ...env, SEMAIL_RIG_REAL_SSH: echo },
  });
  assert.deepEqual(stdout.split("\n").slice(0, -1), [
    "-o",
    "ProxyJump=a b",
    "-i",
    '/k/"$(x)',
    "-T",
    "--",
    "h",
    "docker",
    "system",
    "dial-stdio",
  ]);
});

test("only Docker's own 'no such' answer makes a resource gone, never a broken far side", () => {
  const failed = (stderr: string) => new DockerCliError(["container", "inspect", "x"], stderr, "exit 1");
  assert.ok(isNoSuchObject(failed("Error: No such container: semail-ldap")));
  assert.ok(isNoSuchObject(failed("Error: No such network: semail-users")));
  assert.ok(isNoSuchObject(failed("Error response from daemon: network semail-users not found")));
  assert.ok(!isNoSuchObject(failed("bash: line 1: docker: command not found")));
  assert.ok(!isNoSuchObject(failed("ssh: connect to host 192.0.2.1 port 22: Connection refused")));
});

test("an upload is a one-file tar at its absolute path, with its mode", async (t) => {
  const dir = await tempDir(t, "semail-rig-tar-");
  const tar = join(dir, "upload.tar");
  await writeFile(tar, uploadTar("/etc/semail/secret", Buffer.from("s3cret\n"), 0o400));
  await run("tar", ["-xf", tar, "-C", dir], { timeout: 10_000 });
  assert.equal(await readFile(join(dir, "etc/semail/secret"), "utf8"), "s3cret\n");
  const { stdout } = await run("stat", ["-c", "%a", join(dir, "etc/semail/secret")]);
  assert.equal(stdout.trim(), "400");
});

test("docker create gets what upstream's API call would: network mode, never a pull, the inputs", () => {
  const args = createArgs({
    name: "semail-inbound",
    image: "sha256:abc",
    restart: "unless-stopped",
    envs: ["A=1"],
    networkMode: "bridge",
    capabilities: { drops: ["NET_RAW"] },
    sysctls: { "net.ipv6.conf.all.disable_ipv6": "1" },
    ulimits: [{ name: "nofile", soft: 65536, hard: 65536 }],
    mounts: [{ type: "bind", source: "/srv/mail,x", target: "/srv/mail", bindOptions: { propagation: "rslave" } }],
    volumes: [{ hostPath: "/var/lib/ldap", containerPath: "/var/lib/ldap", readOnly: true }],
    ports: [
      { internal: 25, external: 25, ip: "192.0.2.7" },
      { internal: 587, ip: "::1", protocol: "tcp" },
    ],
    command: ["inbound", "--config", "/etc/x.yaml"],
  });
  assert.deepEqual(args, [
    "create",
    "--pull",
    "never",
    "--name",
    "semail-inbound",
    "--network",
    "bridge",
    "--restart",
    "unless-stopped",
    "--env",
    "A=1",
    "--cap-drop",
    "NET_RAW",
    "--sysctl",
    "net.ipv6.conf.all.disable_ipv6=1",
    "--ulimit",
    "nofile=65536:65536",
    "--mount",
    'type=bind,"source=/srv/mail,x",target=/srv/mail,bind-propagation=rslave',
    "--volume",
    "/var/lib/ldap:/var/lib/ldap:ro",
    "--publish",
    "192.0.2.7:25:25/tcp",
    "--publish",
    "[::1]::587/tcp",
    "sha256:abc",
    "inbound",
    "--config",
    "/etc/x.yaml",
  ]);
});

test("Read: a stopped container reads mustRun false and, with ports, none published; capabilities keep the program's spelling", () => {
  const prior = {
    image: "sha256:abc",
    mustRun: true,
    ports: [{ internal: 25, external: 25, ip: "127.0.0.1", protocol: "tcp" }],
    capabilities: { drops: ["NET_RAW"] },
    envs: ["A=1"],
  };
  const inspect = {
    Name: "/box",
    Image: "sha256:abc",
    State: { Running: false, ExitCode: 137 },
    Config: { Image: "sha256:abc", Hostname: "box", Cmd: ["sleep", "infinity"] },
    HostConfig: { CapDrop: ["CAP_NET_RAW"], RestartPolicy: { Name: "no" }, NetworkMode: "bridge" },
    NetworkSettings: { Ports: {}, Networks: { net: { IPAddress: "" } } },
  };
  const out = containerOutputs(inspect, prior);
  assert.equal(out.mustRun, false);
  assert.deepEqual(out.ports, []);
  assert.equal(out.exitCode, 137);
  assert.deepEqual(out.capabilities, { adds: [], drops: ["NET_RAW"] });
  assert.deepEqual(out.envs, ["A=1"], "what upstream does not read stays");
  const running = containerOutputs({ ...inspect, State: { Running: true } }, prior);
  assert.equal(running.mustRun, true);
});

test("what Read gives back for a mailbox-like container makes no diff against the program (no perpetual diff)", () => {
  const inputs = {
    name: "semail-user-alice",
    hostname: "alice",
    image: "sha256:abc",
    restart: "unless-stopped",
    capabilities: { drops: ["NET_RAW"] },
    sysctls: { "net.ipv6.conf.all.disable_ipv6": "1" },
    envs: ["SEMAIL_USER=alice"],
    mounts: [
      { type: "bind", source: "/srv/mail/alice", target: "/home/alice/mail", bindOptions: { propagation: "rslave" } },
    ],
    volumes: [{ hostPath: "/var/lib/semail/host-keys/alice", containerPath: "/etc/ssh/keys" }],
    uploads: [{ file: "/etc/semail/authorized_keys", content: "ssh-ed25519 AAAA alice\n", permissions: "0644" }],
    ports: [{ internal: 587, external: 587, ip: "127.0.0.1" }],
    networksAdvanced: [{ name: "semail-users", aliases: ["alice"] }],
  };
  // What docker inspect said for such a container, created with the docker CLI.
  const inspect = {
    Name: "/semail-user-alice",
    Image: "sha256:abc",
    State: { Running: true },
    Config: {
      Image: "sha256:abc",
      Hostname: "alice",
      Cmd: ["/usr/local/sbin/entrypoint"],
      Env: ["SEMAIL_USER=alice", "PATH=/usr/bin"],
    },
    HostConfig: {
      CapDrop: ["CAP_NET_RAW"],
      Sysctls: { "net.ipv6.conf.all.disable_ipv6": "1" },
      RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
      NetworkMode: "bridge",
      Binds: ["/var/lib/semail/host-keys/alice:/etc/ssh/keys"],
      Mounts: [
        { Type: "bind", Source: "/srv/mail/alice", Target: "/home/alice/mail", BindOptions: { Propagation: "rslave" } },
      ],
    },
    NetworkSettings: {
      Ports: { "587/tcp": [{ HostIp: "127.0.0.1", HostPort: "587" }] },
      Networks: { "semail-users": { IPAddress: "172.30.0.130" } },
    },
  };
  const created = containerOutputs(inspect, { ...inputs, mustRun: true, networkMode: "bridge" });
  assert.deepEqual(diffFields(CONTAINER_RULES, created, inputs), { changes: {}, replaces: [] });
  assert.equal((created.networkDatas as { ipAddress: string }[])[0]?.ipAddress, "172.30.0.130");
});

// ---------------------------------------------------------------- under the real engine

/** The Debian base every SEMail Dockerfile starts FROM (assets/images/base.sh; nothing is pulled). */
async function ensureBase(engine: DockerEngine): Promise<void> {
  await withLock(
    join(tmpdir(), "semail-image-build.lock"),
    async () => {
      await run(join(REPO_ROOT, "assets/images/base.sh"), [], {
        env: { ...process.env, DOCKER_HOST: engine.host },
        timeout: 15 * 60_000,
      });
    },
    15 * 60_000,
  );
}

async function stackFor(rig: RigEngine, name: string, program: () => Promise<Record<string, unknown>>): Promise<Stack> {
  const pulumiCommand = await PulumiCommand.get({ root: rig.cliRoot, skipVersionCheck: true });
  const workDir = join(rig.dir, `work-${name}`);
  await mkdir(workDir, { recursive: true });
  return LocalWorkspace.createOrSelectStack(
    { stackName: name, projectName: "semail-rig-docker", program },
    { workDir, envVars: rig.env, pulumiCommand },
  );
}

/** A tiny image context FROM the base: one file copied, one not, one ignored. */
async function imageContext(t: TestContext): Promise<string> {
  const dir = await tempDir(t, "semail-rig-build-");
  await writeFile(
    join(dir, "Dockerfile"),
    'ARG BASE\nFROM ${BASE}\nCOPY greeting.txt /srv/greeting.txt\nCMD ["sleep", "infinity"]\n',
  );
  await writeFile(join(dir, ".dockerignore"), "ignored.txt\n");
  await writeFile(join(dir, "greeting.txt"), "hello from the image\n");
  await writeFile(join(dir, "notes.txt"), "in the context, never copied\n");
  await writeFile(join(dir, "ignored.txt"), "never sent\n");
  return dir;
}

/** The error a preview with --expect-no-changes fails with (undefined: it passed). */
async function driftMessage(stack: Stack, refresh: boolean): Promise<string | undefined> {
  return stack.preview({ expectNoChanges: true, refresh }).then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
}

/** True when a file of the engine's file backend holds `text` as is. */
async function stateHolds(rig: RigEngine, text: string): Promise<boolean> {
  return run("grep", ["-rqF", "--", text, join(rig.dir, "state")]).then(
    () => true,
    (e: { code?: number }) => (e.code === 1 ? false : Promise.reject(e as Error)),
  );
}

interface Inspected {
  Id: string;
  Image: string;
  State: { Running: boolean };
  Config: { Env: string[]; Hostname: string };
  HostConfig: { CapDrop: string[] | null; Sysctls: Record<string, string>; RestartPolicy: { Name: string } };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Aliases: string[] | null }> };
}

async function inspect(engine: DockerEngine, name: string): Promise<Inspected | undefined> {
  return engine.docker(["container", "inspect", name]).then(
    (out) => (JSON.parse(out) as Inspected[])[0],
    () => undefined,
  );
}

const skipEngine = engineMissing();

/**
 * The shared test dockerd, and a place for what the test leaves on it: removed in one hook
 * before the engine is let go (hooks run in the order they were added).
 */
async function dockerFor(t: TestContext): Promise<{ engine: DockerEngine; leftovers: (() => Promise<unknown>)[] }> {
  const engine = await dockerEngine();
  const leftovers: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const remove of leftovers) await remove().catch(() => undefined);
    await engine.release();
  });
  return { engine, leftovers };
}

test("the docker stand-in under the real engine: build, run, clean previews, drift repaired, replacements, destroy", {
  skip: skipEngine,
  timeout: 20 * STEP_MS,
}, async (t) => {
  const { engine, leftovers } = await dockerFor(t);
  await ensureBase(engine);
  const rig = await rigEngine(t, ["docker"]);
  const context = await imageContext(t);
  const hostDir = await tempDir(t, "semail-rig-mount-");
  await writeFile(join(hostDir, "from-host.txt"), "mounted\n");
  const id = randomBytes(4).toString("hex");
  const names = {
    image: `semail-test-rig-${id}:latest`,
    inner: `semail-test-${id}-inner`,
    outer: `semail-test-${id}-outer`,
    box: `semail-test-${id}-box`,
  };
  const third = 1 + (randomBytes(1)[0]! % 250);
  const subnet = `10.215.${third}.0/24`;
  const fixedIp = `10.215.${third}.2`;
  const port = await freeLoopbackPort();
  const password = `s3cret-${randomBytes(8).toString("hex")}`;
  const digests = new Set<string>();
  leftovers.push(
    () => engine.docker(["rm", "-f", "-v", names.box]),
    () => engine.docker(["network", "rm", names.inner]),
    () => engine.docker(["network", "rm", names.outer]),
    () => engine.docker(["rmi", "-f", names.image, ...digests]),
  );
  const settings = { env: "GREETING=hello", upload: "hello" };
  const program = async () => {
    const provider = new docker.Provider("rig-docker", { host: engine.host });
    const image = new docker.Image(
      "img",
      {
        imageName: names.image,
        build: { context, dockerfile: join(context, "Dockerfile"), args: { BASE }, platform: "linux/amd64" },
        skipPush: true,
      },
      { provider },
    );
    const labels = [{ label: "semail-test", value: "" }];
    const inner = new docker.Network(
      "inner",
      {
        name: names.inner,
        driver: "bridge",
        internal: true,
        labels,
        options: { "com.docker.network.bridge.name": `sdt${id}` },
        ipamConfigs: [{ subnet, ipRange: `10.215.${third}.128/25` }],
      },
      { provider },
    );
    const outer = new docker.Network("outer", { name: names.outer, driver: "bridge", labels }, { provider });
    const box = new docker.Container(
      "box",
      {
        name: names.box,
        image: image.repoDigest,
        hostname: "box",
        restart: "unless-stopped",
        mustRun: true,
        labels,
        envs: [settings.env],
        capabilities: { drops: ["NET_RAW"] },
        sysctls: { "net.ipv6.conf.all.disable_ipv6": "1" },
        uploads: [
          { file: "/etc/semail/greeting", content: settings.upload, permissions: "0640" },
          { file: "/run/secrets/password", content: pulumi.secret(password), permissions: "0400" },
        ],
        mounts: [{ type: "bind", source: hostDir, target: "/mnt/host", readOnly: true }],
        volumes: [{ hostPath: hostDir, containerPath: "/mnt/volume" }],
        ports: [{ internal: 8080, external: port, ip: "127.0.0.1" }],
        networksAdvanced: [{ name: inner.name, aliases: ["box-alias"], ipv4Address: fixedIp }, { name: outer.name }],
      },
      { provider, deleteBeforeReplace: true },
    );
    return { repoDigest: image.repoDigest, address: box.networkDatas.apply((nets) => nets?.[0]?.ipAddress ?? "") };
  };
  const stack = await stackFor(rig, "box", program);

  await t.test("up builds the image and runs the container as asked", async () => {
    // A first preview: nothing built yet, so the digest and the networks' names are unknown.
    assert.deepEqual((await stack.preview()).changeSummary, { create: 6 });
    const result = await stack.up();
    assert.equal(result.summary.result, "succeeded");
    const repoDigest = String(result.outputs.repoDigest?.value);
    digests.add(repoDigest);
    assert.match(repoDigest, /^sha256:[0-9a-f]{64}$/, "skipPush: upstream's repoDigest is the local image ID");
    assert.equal((await engine.docker(["image", "inspect", "--format", "{{.Id}}", names.image])).trim(), repoDigest);
    const box = await inspect(engine, names.box);
    assert.ok(box?.State.Running);
    assert.equal(box.Image, repoDigest);
    assert.ok(box.Config.Env.includes("GREETING=hello"));
    assert.equal(box.Config.Hostname, "box");
    assert.equal(box.HostConfig.RestartPolicy.Name, "unless-stopped");
    assert.deepEqual(box.HostConfig.Sysctls, { "net.ipv6.conf.all.disable_ipv6": "1" });
    assert.deepEqual(Object.keys(box.NetworkSettings.Networks).sort(), [names.inner, names.outer]);
    assert.equal(box.NetworkSettings.Networks[names.inner]?.IPAddress, fixedIp);
    assert.ok(box.NetworkSettings.Networks[names.inner]?.Aliases?.includes("box-alias"));
    assert.equal(result.outputs.address?.value, fixedIp, "networkDatas[0] is the first network by name");
    assert.equal(await engine.docker(["exec", names.box, "cat", "/etc/semail/greeting"]), "hello");
    assert.equal(
      (await engine.docker(["exec", names.box, "stat", "-c", "%a %U", "/etc/semail/greeting"])).trim(),
      "640 root",
    );
    assert.equal(
      await engine.docker([
        "exec",
        names.box,
        "cat",
        "/mnt/host/from-host.txt",
        "/mnt/volume/from-host.txt",
        "/srv/greeting.txt",
      ]),
      "mounted\nmounted\nhello from the image\n",
    );
    await assert.rejects(engine.docker(["exec", names.box, "touch", "/mnt/host/x"]), /Read-only file system/);
    assert.equal(await engine.docker(["exec", names.box, "cat", "/run/secrets/password"]), password);
    // The engine re-marks what the stand-in was handed unmarked: the state file holds ciphertext.
    assert.ok(await stateHolds(rig, names.box), "the state files are where the test looks");
    assert.ok(!(await stateHolds(rig, password)), "a secret upload stays encrypted in the state");
    const inner = JSON.parse(await engine.docker(["network", "inspect", names.inner])) as [
      { Internal: boolean; IPAM: { Config: [{ Subnet: string }] } },
    ];
    assert.equal(inner[0].Internal, true);
    assert.equal(inner[0].IPAM.Config[0].Subnet, subnet);
  });

  await t.test("a second look finds nothing to do, with or without a refresh", async () => {
    assert.equal(await driftMessage(stack, false), undefined);
    assert.equal(await driftMessage(stack, true), undefined);
    const again = await stack.up({ refresh: true });
    assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
  });

  await t.test("a container removed by hand is drift a refresh sees, and up --refresh brings it back", async () => {
    const before = await inspect(engine, names.box);
    await engine.docker(["rm", "-f", names.box]);
    assert.equal(await driftMessage(stack, false), undefined, "without a refresh the state still has it");
    assert.match((await driftMessage(stack, true)) ?? "", /\+ +docker:index:Container box create/);
    const repaired = await stack.up({ refresh: true });
    assert.equal(repaired.summary.resourceChanges?.create, 1);
    const after = await inspect(engine, names.box);
    assert.ok(after?.State.Running);
    assert.notEqual(after.Id, before?.Id);
    assert.equal(await driftMessage(stack, true), undefined);
  });

  await t.test(
    "a container stopped by hand is drift (mustRun); with published ports up --refresh replaces it",
    async () => {
      await engine.docker(["stop", "--time", "0", names.box]);
      // Upstream's Read: a stopped container publishes no ports, and ports are ForceNew.
      assert.match(
        (await driftMessage(stack, true)) ?? "",
        /\+- +docker:index:Container box replace \[diff: ~mustRun,ports\]/,
      );
      const repaired = await stack.up({ refresh: true });
      assert.deepEqual(repaired.summary.resourceChanges, { replace: 1, same: 5 });
      assert.ok((await inspect(engine, names.box))?.State.Running);
      assert.equal(await driftMessage(stack, true), undefined);
    },
  );

  await t.test("a changed env replaces the container (delete first), nothing else", async () => {
    const before = await inspect(engine, names.box);
    settings.env = "GREETING=hello again";
    const preview = await stack.preview();
    assert.match(preview.stdout, /\+- +docker:index:Container box replace \[diff: ~envs\]/);
    const result = await stack.up();
    assert.deepEqual(result.summary.resourceChanges, { replace: 1, same: 5 });
    const after = await inspect(engine, names.box);
    assert.notEqual(after?.Id, before?.Id);
    assert.ok(after?.Config.Env.includes("GREETING=hello again"));
  });

  await t.test("a changed upload replaces the container too", async () => {
    settings.upload = "hello upload";
    assert.match((await stack.preview()).stdout, /\+- +docker:index:Container box replace \[diff: ~uploads\]/);
    assert.deepEqual((await stack.up()).summary.resourceChanges, { replace: 1, same: 5 });
    assert.equal(await engine.docker(["exec", names.box, "cat", "/etc/semail/greeting"]), "hello upload");
  });

  await t.test("a context change that builds the same image updates the image and leaves the container", async () => {
    await writeFile(join(context, "ignored.txt"), "still never sent\n");
    assert.equal(await driftMessage(stack, false), undefined, "an ignored file is not in the digest");
    const before = await inspect(engine, names.box);
    await writeFile(join(context, "notes.txt"), "changed, still never copied\n");
    const result = await stack.up();
    assert.deepEqual(result.summary.resourceChanges, { update: 1, same: 5 });
    assert.equal((await inspect(engine, names.box))?.Id, before?.Id);
  });

  await t.test("a context change that builds a new image gives a new digest and replaces the container", async () => {
    const before = await inspect(engine, names.box);
    await writeFile(join(context, "greeting.txt"), "hello from the new image\n");
    const result = await stack.up();
    assert.deepEqual(result.summary.resourceChanges, { update: 1, replace: 1, same: 4 });
    const repoDigest = String(result.outputs.repoDigest?.value);
    digests.add(repoDigest);
    assert.notEqual(repoDigest, before?.Image);
    const after = await inspect(engine, names.box);
    assert.equal(after?.Image, repoDigest);
    assert.equal(await engine.docker(["exec", names.box, "cat", "/srv/greeting.txt"]), "hello from the new image\n");
  });

  await t.test("destroy removes the container and the networks; the image stays, as upstream leaves it", async () => {
    const result = await stack.destroy();
    assert.equal(result.summary.result, "succeeded");
    assert.equal(await inspect(engine, names.box), undefined);
    for (const net of [names.inner, names.outer])
      await assert.rejects(engine.docker(["network", "inspect", net]), /No such network|not found/);
    assert.match(await engine.docker(["image", "inspect", "--format", "{{.Id}}", names.image]), /^sha256:/);
  });
});

test("the docker stand-in over ssh:// (sshOpts reach the system ssh): a stopped container is started in place, restart updates in place, gone is gone", {
  skip: skipEngine ?? sshdMissing(),
  timeout: 10 * STEP_MS,
}, async (t) => {
  const { engine, leftovers } = await dockerFor(t);
  if (!engine.host.startsWith("unix://")) {
    t.skip(`the far side reaches Docker by a unix socket path; this engine is ${engine.host}`);
    return;
  }
  await ensureBase(engine);
  const sshd = await startTestSshd();
  t.after(() => sshd.stop());
  const keys = await tempDir(t, "semail-rig-ssh-");
  await writeFile(join(keys, "id"), sshd.privateKey, { mode: 0o600 });
  await writeFile(join(keys, "known_hosts"), `[${sshd.host}]:${sshd.port} ${sshd.hostKey}\n`);
  const rig = await rigEngine(t, ["docker"]);
  const context = await imageContext(t);
  const id = randomBytes(4).toString("hex");
  const names = {
    image: `semail-test-rig-ssh-${id}:latest`,
    net: `semail-test-${id}-ssh`,
    box: `semail-test-${id}-ssh-box`,
  };
  leftovers.push(
    () => engine.docker(["rm", "-f", "-v", names.box]),
    () => engine.docker(["network", "rm", names.net]),
    () => engine.docker(["rmi", "-f", names.image]),
  );
  // ssh://user@host:port/path: the far side's docker CLI dials that socket (the test's dockerd).
  const host = `ssh://${sshd.user}@${sshd.host}:${sshd.port}${engine.host.slice("unix://".length)}`;
  // Without these the system ssh has no key and no known host for this sshd: the up would fail.
  const sshOpts = [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${join(keys, "known_hosts")}`,
    "-o",
    "IdentitiesOnly=yes",
    "-i",
    join(keys, "id"),
  ];
  const settings = { restart: "no" };
  const stack = await stackFor(rig, "over-ssh", async () => {
    const provider = new docker.Provider("rig-docker-ssh", { host, sshOpts });
    const image = new docker.Image(
      "img",
      {
        imageName: names.image,
        build: { context, dockerfile: join(context, "Dockerfile"), args: { BASE } },
        skipPush: true,
      },
      { provider },
    );
    const net = new docker.Network(
      "net",
      { name: names.net, labels: [{ label: "semail-test", value: "" }] },
      { provider },
    );
    const box = new docker.Container(
      "box",
      {
        name: names.box,
        image: image.repoDigest,
        restart: settings.restart,
        labels: [{ label: "semail-test", value: "" }],
        uploads: [{ file: "/etc/over-ssh", content: "came over ssh\n" }],
        networksAdvanced: [{ name: net.name }],
      },
      { provider, deleteBeforeReplace: true },
    );
    return { name: box.name, address: box.networkDatas.apply((nets) => nets?.[0]?.ipAddress ?? "") };
  });
  const result = await stack.up();
  assert.equal(result.outputs.name?.value, names.box);
  const address = String(result.outputs.address?.value);
  assert.match(address, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(await engine.docker(["exec", names.box, "cat", "/etc/over-ssh"]), "came over ssh\n");
  assert.equal(await driftMessage(stack, true), undefined);
  assert.match(sshd.log(), /Accepted publickey/, "the provider's docker CLI came in through the test's sshd");

  // Stopped, without published ports: an update that starts the same container.
  const before = await inspect(engine, names.box);
  await engine.docker(["stop", "--time", "0", names.box]);
  assert.match((await driftMessage(stack, true)) ?? "", /~ +docker:index:Container box update \[diff: ~mustRun\]/);
  const started = await stack.up({ refresh: true });
  assert.deepEqual(started.summary.resourceChanges, { update: 1, same: 4 });
  const after = await inspect(engine, names.box);
  assert.ok(after?.State.Running);
  assert.equal(after.Id, before?.Id);
  // As upstream: no Read after an update, so the addresses are the stopped container's
  // (none) until the next refresh.
  assert.equal(started.outputs.address?.value, "");
  const refreshed = await stack.up({ refresh: true });
  assert.equal(refreshed.outputs.address?.value, after.NetworkSettings.Networks[names.net]?.IPAddress);

  // restart is no ForceNew: changed in place.
  settings.restart = "always";
  assert.deepEqual((await stack.up()).summary.resourceChanges, { update: 1, same: 4 });
  const updated = await inspect(engine, names.box);
  assert.equal(updated?.Id, before?.Id);
  assert.equal(updated?.HostConfig.RestartPolicy.Name, "always");
  assert.equal(await driftMessage(stack, true), undefined);

  await engine.docker(["rm", "-f", names.box]);
  await engine.docker(["network", "rm", names.net]);
  const gone = (await driftMessage(stack, true)) ?? "";
  assert.match(gone, /\+ +docker:index:Network net create/);
  assert.match(gone, /\+ +docker:index:Container box create/);
  await stack.up({ refresh: true });
  assert.ok((await inspect(engine, names.box))?.State.Running);
  await stack.destroy();
  assert.equal(await inspect(engine, names.box), undefined);
  await assert.rejects(engine.docker(["network", "inspect", names.net]), /No such network|not found/);
});

test("the docker stand-in refuses what it does not serve, loudly, at preview", {
  skip: skipEngine,
  timeout: STEP_MS,
}, async (t) => {
  const rig = await rigEngine(t, ["docker"]);
  let build: (provider: docker.Provider) => void = () => undefined;
  const stack = await stackFor(rig, "refused", async () => {
    build(new docker.Provider("rig-docker", { host: "unix:///nonexistent/docker.sock" }));
    return {};
  });
  const previewError = () =>
    stack.preview().then(
      () => "",
      (e: unknown) => String(e),
    );
  build = (provider) => new docker.Container("privileged", { image: BASE, privileged: true }, { provider });
  assert.match(
    await previewError(),
    /the input "privileged" is not supported by the SEMail test rig stand-in for pulumi-resource-docker/,
  );
  build = (provider) => new docker.Volume("volume", {}, { provider });
  assert.match(
    await previewError(),
    /the resource type docker:index\/volume:Volume is not supported by the SEMail test rig stand-in/,
  );
});
