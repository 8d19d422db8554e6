// Local mode's users' containers (deploy/local/containers.ts) on a real Docker engine,
// with local mode's own images and networks: each sync touches the mailboxes that changed
// and no other. The docker commands sync issues are recorded (the real engine runs them):
// an unchanged list costs one listing, an added mailbox's container is the only one named,
// a changed key replaces that one container, a stopped one is started, a removed one goes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
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
import { dockerEngine } from "../../helpers/docker.ts";

const run = promisify(execFile);
/** A cold engine builds the base and the images first. */
const IMAGES_MS = 20 * 60_000;
const skip = process.getuid?.() !== 0 ? "needs root (Docker, the shared mail root's bind mount)" : undefined;

async function publicKey(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

function usersList(entries: ReadonlyArray<{ owner: string; key: string }>): UsersList {
  const yaml = entries.map(({ owner, key }) => `  - {owner: ${owner}, address: ${owner}@${owner}.semail.test, sshKeys: ["${key}"]}\n`).join("");
  return parseUsersList(`mailboxes:\n${yaml}`, { managedDomain: "semail.test", defaultSize: 1 << 30, minSize: 1 });
}

test("sync touches only the mailboxes whose container is missing, stopped, changed or removed", { skip, timeout: IMAGES_MS + 5 * 60_000 }, async (t) => {
  const engine = await dockerEngine();
  const dataDir = await mkdtemp(join(tmpdir(), "semail-containers-"));
  const id = localInstanceId(dataDir);
  const mailRoot = join(dataDir, "mail");
  let unshare: (() => Promise<void>) | undefined;
  t.after(async () => {
    const ids = (await engine.docker(["ps", "-aq", "--filter", `label=semail.local=${id}`])).split("\n").filter(Boolean);
    if (ids.length > 0) await engine.docker(["rm", "-f", "-v", ...ids]);
    for (const net of [`semail-${id}-users`, `semail-${id}-jump`, `semail-${id}-apt`]) await engine.docker(["network", "rm", net]).catch(() => undefined);
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
  const docker: Docker = { ...opened, run: (args, options) => (calls.push([...args]), opened.run(args, options)) };
  const containers = createLocalContainers({
    docker, id, dir: join(dataDir, "containers"), mailRoot, images, network, logger: silentLogger(),
    submission: `${network.gateway}:2587`, aptProxy: `http://${network.aptIp}:3142`, jumpPort: await freeLoopbackPort(),
  });
  await containers.startJump();
  const keys = { alice: await publicKey(dataDir, "alice"), bob: await publicKey(dataDir, "bob"), carol: await publicKey(dataDir, "carol"), bob2: await publicKey(dataDir, "bob2") };
  const state = async (owner: string) => (await engine.docker(["inspect", "--format", "{{.Id}} {{.State.Status}}", containerName(id, owner)]).catch(() => "")).trim();
  /** Every container (of a user or the jump) the recorded commands name. */
  const named = () => [...new Set(calls.flat().filter((arg) => arg.startsWith(`semail-${id}-`) && !arg.endsWith("-users")))].sort();
  const sync = async (list: UsersList) => {
    calls.length = 0;
    await containers.sync(list);
  };

  await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob }]));
  const alice = await state("alice");
  const bob = await state("bob");
  assert.match(alice, / running$/);
  assert.match(bob, / running$/);
  assert.match((await containers.sshCommand("alice")) ?? "", /^ssh -J semail-jump@127\.0\.0\.1:\d+ alice@\d+\.\d+\.\d+\.\d+$/);

  await t.test("the same list again: one listing, no command for either container", async () => {
    await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob }]));
    assert.deepEqual(calls.map((c) => c[0]), ["ps"]);
    assert.equal(await state("alice"), alice);
    assert.equal(await state("bob"), bob);
  });

  await t.test("an added mailbox: only its container (and its jump keys) are named", async () => {
    await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob }, { owner: "carol", key: keys.carol }]));
    assert.deepEqual(named(), [containerName(id, "carol"), jumpName(id)].sort());
    assert.match(await state("carol"), / running$/);
    assert.equal(await state("alice"), alice);
  });

  await t.test("bob's key changed: his container alone is replaced, and the jump lets his new key through", async () => {
    await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob2 }, { owner: "carol", key: keys.carol }]));
    assert.deepEqual(named(), [containerName(id, "bob"), jumpName(id)].sort());
    const replaced = await state("bob");
    assert.match(replaced, / running$/);
    assert.notEqual(replaced.split(" ")[0], bob.split(" ")[0], "a new container");
    assert.equal(await state("alice"), alice);
    const jumpKeys = await engine.docker(["exec", jumpName(id), "cat", `${JUMP.dir}/bob.keys`]);
    assert.ok(jumpKeys.includes(keys.bob2.split(" ")[1]!), jumpKeys);
    assert.ok(!jumpKeys.includes(keys.bob.split(" ")[1]!), jumpKeys);
  });

  await t.test("alice's container stopped behind local mode's back: the next sync starts it, and touches no other", async () => {
    await engine.docker(["stop", "-t", "1", containerName(id, "alice")]);
    await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob2 }, { owner: "carol", key: keys.carol }]));
    // Its jump keys follow if Docker gave it another address.
    assert.deepEqual(named().filter((name) => name !== jumpName(id)), [containerName(id, "alice")]);
    assert.equal(await state("alice"), alice, "the same container, running again");
  });

  await t.test("carol's mailbox removed: her container goes, with her jump keys", async () => {
    await sync(usersList([{ owner: "alice", key: keys.alice }, { owner: "bob", key: keys.bob2 }]));
    assert.deepEqual(named(), [containerName(id, "carol"), jumpName(id)].sort());
    assert.equal(await state("carol"), "");
    assert.equal(await containers.sshCommand("carol"), undefined);
    await assert.rejects(engine.docker(["exec", jumpName(id), "test", "-e", `${JUMP.dir}/carol.keys`]));
  });
});
