// A mailbox's SSH keys under Pulumi's mocks, and the command that writes them run for real:
// a key change is an update of the keys file on the VM and no input of the container's,
// so the engine never replaces the container (open sessions, the home and what the owner
// installed stay); the write replaces the file whole, root's, where the container mounts it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { userKeysWriteCommand } from "../../config/stack/user-container.ts";
import { ALICE, ALICE_KEY, BOB, runStack, usersYaml } from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { findResource as find, inputsOf as inputs, reveal } from "../../testkit/pulumi-mocks/harness.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const SECOND_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFscTsp8GdXGO2+LlIVvLeRyMyzzN/S5OgFK+Yz0L/Av alice@desk";

test("adding a key changes only the keys files (the container's and the jump's) and the users list: every input of the container stays", async () => {
  const before = await runStack(usersYaml(ALICE, BOB));
  const after = await runStack(
    usersYaml(ALICE.replace(`sshKeys: ["${ALICE_KEY}"]`, `sshKeys: ["${ALICE_KEY}", "${SECOND_KEY}"]`), BOB),
  );
  const changed = before.resources
    .filter((r) => JSON.stringify(reveal(r.inputs)) !== JSON.stringify(reveal(find(after.resources, r.name).inputs)))
    .map((r) => r.name);
  assert.deepEqual(changed.sort(), ["mailbox-alice-jump", "mailbox-alice-keys", "users-list"]);
  assert.deepEqual(
    inputs(after.resources, "mailbox-alice-container"),
    inputs(before.resources, "mailbox-alice-container"),
  );

  const keys = inputs(after.resources, "mailbox-alice-keys");
  assert.equal(keys.stdin, `${ALICE_KEY}\n${SECOND_KEY}\n`);
  assert.equal(
    keys.create,
    inputs(before.resources, "mailbox-alice-keys").create,
    "the same command: an update, run in place",
  );
  assert.equal(keys.triggers, undefined, "no triggers: a change never replaces the file's resource");
  assert.equal(keys.delete, undefined);
  // The container starts only once its keys file is there, and mounts its directory read-only.
  assert.ok(
    find(after.resources, "mailbox-alice-container").dependencies.some((d) => d.endsWith("::mailbox-alice-keys")),
  );
  assert.ok(
    inputs(after.resources, "mailbox-alice-container").volumes.some(
      (v: { hostPath: string; containerPath: string; readOnly?: boolean }) =>
        v.hostPath === "/var/lib/semail/user-keys/alice" &&
        v.containerPath === "/etc/semail/keys" &&
        v.readOnly === true,
    ),
  );
  // bob has no key: an empty file, nobody gets in.
  assert.equal(inputs(after.resources, "mailbox-bob-keys").stdin, "");
});

test("the keys command replaces the file whole (a new inode renamed over the old one), root's and 0644 in a 0755 directory", {
  skip: needsRoot,
}, async (t) => {
  const dir = await tempDir(t, "semail-user-keys-");
  const write = (input: string) =>
    new Promise<void>((resolve, reject) => {
      const child = execFile("bash", ["-c", userKeysWriteCommand("alice", dir)], { timeout: 10_000 }, (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin!.end(input);
    });
  await write(`${ALICE_KEY}\n`);
  const file = join(dir, "alice", "authorized_keys");
  const first = await stat(file);
  assert.equal(await readFile(file, "utf8"), `${ALICE_KEY}\n`);
  assert.equal(first.mode & 0o777, 0o644);
  assert.equal(first.uid, 0);
  assert.equal((await stat(join(dir, "alice"))).mode & 0o777, 0o755);
  await write(`${ALICE_KEY}\n${SECOND_KEY}\n`);
  const second = await stat(file);
  assert.equal(await readFile(file, "utf8"), `${ALICE_KEY}\n${SECOND_KEY}\n`);
  assert.notEqual(second.ino, first.ino, "renamed over, never written into: a reader sees the old keys or the new");
  assert.deepEqual(
    (await run("ls", ["-A", join(dir, "alice")])).stdout.trim().split("\n"),
    ["authorized_keys"],
    "no temp file left",
  );
});

test("the storage commands name the mailbox's address, so kept mail of another address is never reattached unasked", async () => {
  const { resources } = await runStack(usersYaml(ALICE, BOB), { storageBackend: "image" });
  const alice = inputs(resources, "mailbox-alice-storage");
  const bob = inputs(resources, "mailbox-bob-storage");
  assert.match(
    alice.create,
    / create --owner alice .*--image-dir \/var\/lib\/semail\/images .*--address alice@alice\.semail\.email$/,
  );
  assert.match(alice.update, / grow --owner alice .*--address alice@alice\.semail\.email$/);
  assert.match(bob.create, / create --owner bob .*--address bob@example\.org$/);

  // Bob deletes his mailbox and makes it again under another external domain: a new
  // address in the commands; the host script then sets the old filesystem aside.
  const again = await runStack(usersYaml(ALICE, BOB.replace("bob@example.org", "bob@example.net")), {
    storageBackend: "image",
  });
  assert.match(inputs(again.resources, "mailbox-bob-storage").create, /--address bob@example\.net$/);
  assert.equal(inputs(again.resources, "mailbox-alice-storage").create, alice.create, "alice's command is unchanged");
});
