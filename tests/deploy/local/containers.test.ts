// Local mode's users' containers (deploy/local/containers.ts) on a real Docker engine,
// with local mode's own images and networks: each sync touches the mailboxes that changed
// and no other. The docker commands sync issues are recorded (the real engine runs them):
// an unchanged list costs one listing, an added mailbox's container is the only one named,
// a changed key is rewritten in place (the container, an open session and the home stay),
// a stopped one is started with what its owner installed, a removed one goes, and an image
// upgrade replaces a container, which keeps the home and installs again what was installed.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { mailUid } from "../../../config/mail-uid.ts";
import { JUMP } from "../../../config/stack/jump-host.ts";
import { parseUsersList, type UsersList } from "../../../config/users-list.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { containerName, createLocalContainers, jumpName, shareMailRoot } from "../../../deploy/local/containers.ts";
import { localInstanceId, openDocker, type Docker } from "../../../deploy/local/docker-engine.ts";
import { ensureLocalImages } from "../../../deploy/local/images.ts";
import { freeLoopbackPort } from "../../../deploy/local/ports.ts";
import { ensureUsersNetwork } from "../../../deploy/local/users-network.ts";
import { dockerEngine } from "../../../testkit/docker.ts";
import { until } from "../../../testkit/until.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
/** A cold engine builds the base and the images first. */
const IMAGES_MS = 20 * 60_000;
/** Two programs as Debian packages, made where this runs (dpkg-deb): one the upgraded image's archive has, one it has not. */
const MAKE_PROGRAMS =
  "set -e; for p in semail-probe semail-gone; do mkdir -p /tmp/$p/DEBIAN; " +
  "printf 'Package: %s\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: SEMail tests <tests@semail.test>\\nDescription: a program the tests install\\n' $p >/tmp/$p/DEBIAN/control; " +
  "dpkg-deb --build /tmp/$p /tmp/$p.deb >/dev/null; done";
/** The next user image: the same, with an apt archive of its own (semail-probe only) as its one source, so nothing is fetched from outside. */
const UPGRADED_IMAGE = (from: string) => `FROM ${from}
RUN ${MAKE_PROGRAMS}; mkdir /opt/archive; mv /tmp/semail-probe.deb /opt/archive/; cd /opt/archive; \\
 { dpkg-deb -f semail-probe.deb; echo "Filename: ./semail-probe.deb"; echo "Size: $(stat -c %s semail-probe.deb)"; echo "SHA256: $(sha256sum semail-probe.deb | cut -d' ' -f1)"; echo; } >Packages; \\
 rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; echo 'deb [trusted=yes] file:/opt/archive ./' >/etc/apt/sources.list.d/archive.list
`;
const skip = needsRoot;

async function publicKey(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

function usersList(entries: ReadonlyArray<{ owner: string; key: string }>): UsersList {
  const yaml = entries
    .map(({ owner, key }) => `  - {owner: ${owner}, address: ${owner}@${owner}.semail.test, sshKeys: ["${key}"]}\n`)
    .join("");
  return parseUsersList(`mailboxes:\n${yaml}`, { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 });
}

/** A user at their laptop: `ssh -F CONFIG -J jump owner@ip COMMAND` with one key (ssh -J passes the config on, not -o). */
async function sshConfig(dir: string, key: string): Promise<string> {
  const file = join(dir, `${key}.ssh-config`);
  await writeFile(
    file,
    [
      "Host *",
      `  IdentityFile ${join(dir, key)}`,
      "  IdentitiesOnly yes",
      "  BatchMode yes",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  LogLevel ERROR",
      "  ConnectTimeout 10",
      "",
    ].join("\n"),
  );
  return file;
}

/** The form's `ssh -J` line with a config, as argv. */
const sshArgs = (line: string, config: string, command: string) => ["-F", config, ...line.split(" ").slice(1), command];

/** An open session running `cat`: what is written comes back while the session lives. */
function openSession(args: string[]) {
  const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
  return {
    /** Writes a line and waits (bounded) for its echo. */
    async echo(line: string): Promise<void> {
      child.stdin.write(`${line}\n`);
      await until(
        () => {
          if (child.exitCode !== null)
            assert.fail(`the session ended (exit ${child.exitCode}) before echoing ${line}: ${out}`);
          return out.includes(`${line}\n`);
        },
        () => `the session to echo ${line}: ${out}`,
        20_000,
        100,
      );
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin.end();
      }),
  };
}

test("sync touches only the mailboxes whose container is missing, stopped, changed or removed", {
  skip,
  timeout: IMAGES_MS + 5 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  const dataDir = await mkdtemp(join(tmpdir(), "semail-containers-"));
  const id = localInstanceId(dataDir);
  const mailRoot = join(dataDir, "mail");
  const upgraded = `semail-test/user-upgraded:${id}`;
  let unshare: (() => Promise<void>) | undefined;
  const sessions: Array<ReturnType<typeof openSession>> = [];
  t.after(async () => {
    for (const session of sessions) await session.close();
    await engine.docker(["rmi", "-f", upgraded]).catch(() => undefined);
    const ids = (await engine.docker(["ps", "-aq", "--filter", `label=semail.local=${id}`]))
      .split("\n")
      .filter(Boolean);
    if (ids.length > 0) await engine.docker(["rm", "-f", "-v", ...ids]);
    for (const net of [`semail-${id}-users`, `semail-${id}-jump`, `semail-${id}-apt`])
      await engine.docker(["network", "rm", net]).catch(() => undefined);
    await unshare?.();
    await rm(dataDir, { recursive: true, force: true });
    await engine.release();
  });

  // The engine the tests share, as local mode opens it (DOCKER_HOST names it).
  process.env.DOCKER_HOST = engine.host;
  const opened = await openDocker(dataDir, () => undefined);
  assert.ok(!("reason" in opened), "reason" in opened ? opened.reason : "");
  const images = await ensureLocalImages(opened, (line) => t.diagnostic(line));
  const network = await ensureUsersNetwork(opened, id);
  unshare = await shareMailRoot(mailRoot);
  const owners = ["alice", "bob", "carol"];
  // Each mailbox root is its mail uid's, as the applier leaves it (the user image checks).
  for (const owner of owners) {
    await mkdir(join(mailRoot, owner), { recursive: true });
    await chown(join(mailRoot, owner), mailUid(owner), mailUid(owner));
  }

  const calls: string[][] = [];
  const docker: Docker = {
    ...opened,
    run: (args, options) => {
      calls.push([...args]);
      return opened.run(args, options);
    },
  };
  const options = {
    docker,
    id,
    dir: join(dataDir, "containers"),
    mailRoot,
    images,
    network,
    logger: silentLogger(),
    submission: `${network.gateway}:2587`,
    aptProxy: `http://${network.aptIp}:3142`,
    jumpPort: await freeLoopbackPort(),
  };
  const containers = createLocalContainers(options);
  await containers.startJump();
  const keys = {
    alice: await publicKey(dataDir, "alice"),
    bob: await publicKey(dataDir, "bob"),
    carol: await publicKey(dataDir, "carol"),
    bob2: await publicKey(dataDir, "bob2"),
  };
  const state = async (owner: string) =>
    (
      await engine
        .docker(["inspect", "--format", "{{.Id}} {{.State.Status}}", containerName(id, owner)])
        .catch(() => "")
    ).trim();
  /** Every container (of a user or the jump) the recorded commands name. */
  const named = () =>
    [...new Set(calls.flat().filter((arg) => arg.startsWith(`semail-${id}-`) && !arg.endsWith("-users")))].sort();
  const sync = async (list: UsersList) => {
    calls.length = 0;
    await containers.sync(list);
  };

  await sync(
    usersList([
      { owner: "alice", key: keys.alice },
      { owner: "bob", key: keys.bob },
    ]),
  );
  const alice = await state("alice");
  const bob = await state("bob");
  assert.match(alice, / running$/);
  assert.match(bob, / running$/);
  assert.match(
    (await containers.sshCommand("alice")) ?? "",
    /^ssh -J semail-jump@127\.0\.0\.1:\d+ alice@\d+\.\d+\.\d+\.\d+$/,
  );

  await t.test("the same list again: one listing, no command for either container", async () => {
    await sync(
      usersList([
        { owner: "alice", key: keys.alice },
        { owner: "bob", key: keys.bob },
      ]),
    );
    assert.deepEqual(
      calls.map((c) => c[0]),
      ["ps"],
    );
    assert.equal(await state("alice"), alice);
    assert.equal(await state("bob"), bob);
  });

  await t.test("an added mailbox: only its container (and its jump keys) are named", async () => {
    await sync(
      usersList([
        { owner: "alice", key: keys.alice },
        { owner: "bob", key: keys.bob },
        { owner: "carol", key: keys.carol },
      ]),
    );
    assert.deepEqual(named(), [containerName(id, "carol"), jumpName(id)].sort());
    assert.match(await state("carol"), / running$/);
    assert.equal(await state("alice"), alice);
  });

  await t.test(
    "bob's key changed: the keys file is rewritten in place; the same container runs on, with his open session and his home, and lets the new key in",
    async () => {
      const bobLine = (await containers.sshCommand("bob"))!;
      const oldKey = await sshConfig(dataDir, "bob");
      const newKey = await sshConfig(dataDir, "bob2");
      const wrote = await run(
        "ssh",
        sshArgs(bobLine, oldKey, "echo kept >~/notes.txt; (umask 077; echo bob-Secret1 >~/.semail-password); pwd"),
        { timeout: 30_000 },
      );
      assert.equal(wrote.stdout, "/mail/home\n");
      const session = openSession(sshArgs(bobLine, oldKey, "cat"));
      sessions.push(session);
      await session.echo("before the change");

      await sync(
        usersList([
          { owner: "alice", key: keys.alice },
          { owner: "bob", key: keys.bob2 },
          { owner: "carol", key: keys.carol },
        ]),
      );
      assert.deepEqual(named(), [jumpName(id)], "no docker command names bob's container: only the jump's keys follow");
      assert.equal(await state("bob"), bob, "the same container, running");
      await session.echo("after the change");
      const read = await run("ssh", sshArgs(bobLine, newKey, "cat ~/notes.txt ~/.semail-password"), {
        timeout: 30_000,
      });
      assert.equal(read.stdout, "kept\nbob-Secret1\n");
      await assert.rejects(
        run("ssh", sshArgs(bobLine, oldKey, "true"), { timeout: 30_000 }),
        "the removed key no longer gets in",
      );
      assert.equal(
        await readFile(join(mailRoot, "bob", "home", "notes.txt"), "utf8"),
        "kept\n",
        "on his own filesystem",
      );
      const jumpKeys = await engine.docker(["exec", jumpName(id), "cat", `${JUMP.dir}/bob.keys`]);
      assert.ok(jumpKeys.includes(keys.bob2.split(" ")[1]!), jumpKeys);
      assert.ok(!jumpKeys.includes(keys.bob.split(" ")[1]!), jumpKeys);
    },
  );

  await t.test(
    "alice installs programs with apt: the list lands on her filesystem; her container stopped behind local mode's back is started (the same one, the programs still there), and no other is touched",
    async () => {
      const aliceBox = containerName(id, "alice");
      await engine.docker([
        "exec",
        aliceBox,
        "bash",
        "-c",
        `${MAKE_PROGRAMS}; apt-get install -y -q /tmp/semail-probe.deb /tmp/semail-gone.deb >/dev/null`,
      ]);
      const list = join(mailRoot, "alice", "home", ".semail", "packages");
      assert.deepEqual(
        (await readFile(list, "utf8")).split("\n").filter((l) => l && !l.startsWith("#")),
        ["semail-gone", "semail-probe"],
        "hers only, none of the image's",
      );
      await engine.docker(["stop", "-t", "1", aliceBox]);
      await sync(
        usersList([
          { owner: "alice", key: keys.alice },
          { owner: "bob", key: keys.bob2 },
          { owner: "carol", key: keys.carol },
        ]),
      );
      // Its jump keys follow if Docker gave it another address.
      assert.deepEqual(
        named().filter((name) => name !== jumpName(id)),
        [aliceBox],
      );
      assert.equal(await state("alice"), alice, "the same container, running again");
      assert.match(
        await engine.docker([
          "exec",
          aliceBox,
          "dpkg-query",
          "-W",
          "-f",
          "${db:Status-Status}",
          "semail-probe",
          "semail-gone",
        ]),
        /^installedinstalled$/,
      );
    },
  );

  await t.test("carol's mailbox removed: her container goes, with her jump keys", async () => {
    await sync(
      usersList([
        { owner: "alice", key: keys.alice },
        { owner: "bob", key: keys.bob2 },
      ]),
    );
    assert.deepEqual(named(), [containerName(id, "carol"), jumpName(id)].sort());
    assert.equal(await state("carol"), "");
    assert.equal(await containers.sshCommand("carol"), undefined);
    await assert.rejects(engine.docker(["exec", jumpName(id), "test", "-e", `${JUMP.dir}/carol.keys`]));
  });
  await t.test(
    "an image upgrade replaces the containers: alice's home is as she left it, the program the new image's archive has is installed again, and her login names the one it has not",
    async () => {
      const aliceBox = containerName(id, "alice");
      await engine.docker(["exec", "-u", "alice", aliceBox, "bash", "-c", "echo kept >/mail/home/notes.txt"]);
      const context = await mkdtemp(join(dataDir, "upgrade-"));
      await writeFile(join(context, "Dockerfile"), UPGRADED_IMAGE(images.user));
      await opened.stream(
        ["build", "--network", "none", "--label", "semail-test", "-t", upgraded, context],
        () => undefined,
        { env: { DOCKER_BUILDKIT: "0" }, timeoutMs: 5 * 60_000 },
      );
      const next = createLocalContainers({ ...options, images: { ...images, user: upgraded } });
      await next.sync(
        usersList([
          { owner: "alice", key: keys.alice },
          { owner: "bob", key: keys.bob2 },
        ]),
      );
      const replaced = await state("alice");
      assert.notEqual(replaced.split(" ")[0], alice.split(" ")[0], "a new container");
      assert.match(replaced, / running$/);
      assert.notEqual((await state("bob")).split(" ")[0], bob.split(" ")[0], "bob's too: the image is everyone's");
      // The start installs again in the background; the login shows what came of it (pam_motd).
      let motd = "";
      await until(
        async () => {
          motd = await engine.docker(["exec", aliceBox, "cat", "/run/semail-packages.motd"]).catch(() => "");
          return /installed again in|did NOT/.test(motd);
        },
        () => `the install's report in the motd (so far: ${JSON.stringify(motd)})`,
        180_000,
        500,
      );
      assert.match(motd, /SEMail installed again in this new container: semail-probe\.\n/);
      assert.match(motd, /SEMail did NOT install again:\n {2}not found in the package archive: semail-gone\n/);
      assert.equal(
        await engine.docker(["exec", aliceBox, "dpkg-query", "-W", "-f", "${db:Status-Status}", "semail-probe"]),
        "installed",
      );
      assert.equal(await engine.docker(["exec", "-u", "alice", aliceBox, "cat", "/mail/home/notes.txt"]), "kept\n");
      assert.deepEqual(
        (await readFile(join(mailRoot, "alice", "home", ".semail", "packages"), "utf8"))
          .split("\n")
          .filter((l) => l && !l.startsWith("#")),
        ["semail-gone", "semail-probe"],
        "the list stays as she left it: the one not installed again is tried at the next start",
      );
      const bobLine = (await next.sshCommand("bob"))!;
      const read = await run("ssh", sshArgs(bobLine, await sshConfig(dataDir, "bob2"), "cat ~/notes.txt"), {
        timeout: 30_000,
      });
      assert.equal(read.stdout, "kept\n", "bob's home too");
    },
  );
});
