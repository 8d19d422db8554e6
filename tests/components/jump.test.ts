// SSH access through the VM under Pulumi's mocks: the jump account setup on the VM, each
// owner's key file (path, one permitopen line per key, the guarded delete), the outputs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { JUMP, jumpKeysFile, jumpSshdStanza, userSshCommand } from "../../config/stack/jump-host.ts";
import {
  ALICE,
  ALICE_KEY,
  BOB,
  CAROL,
  PROJECT_DIR,
  runStack,
  usersYaml,
} from "../../testkit/pulumi-mocks/stack-fixtures.ts";
import { inputsOf as inputs, settle } from "../../testkit/pulumi-mocks/harness.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
// Blobs are checked (an RSA one down to its modulus size), so a made-up key is an ed25519 one.
const SECOND_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFscTsp8GdXGO2+LlIVvLeRyMyzzN/S5OgFK+Yz0L/Av alice@desk";

test("the host scripts set up the jump account: AuthorizedKeysCommand from the per-owner files, forwarding only", async () => {
  const { resources } = await runStack(usersYaml());
  const setup = inputs(resources, "host-scripts-jump");
  assert.equal(
    setup.create,
    "bash /usr/local/lib/semail/jump-host.sh setup --user semail-jump --keys-user semail-jumpkeys --dir /etc/semail/jump --command /usr/local/sbin/semail-jump-keys --sshd-conf /etc/ssh/sshd_config.d/semail-jump.conf",
  );
  assert.equal(setup.delete, undefined, "a replacement never removes the account");
  assert.equal(setup.triggers.length, 3, "re-run when a jump script changes");
  const stanza = setup.stdin as string;
  assert.equal(stanza, jumpSshdStanza());
  assert.match(stanza, /^Match User semail-jump$/m);
  assert.match(stanza, /^\tAuthorizedKeysFile none$/m);
  assert.match(stanza, /^\tAuthorizedKeysCommand \/usr\/local\/sbin\/semail-jump-keys %u$/m);
  assert.match(stanza, /^\tAuthorizedKeysCommandUser semail-jumpkeys$/m);
  assert.match(stanza, /^\tAllowTcpForwarding local$/m);
  assert.match(stanza, /^\tPermitTTY no$/m);
  assert.match(stanza, /^\tForceCommand \/usr\/sbin\/nologin$/m);
  assert.match(stanza, /\nMatch all\n$/, "the block is closed");
  // The three jump scripts are copied to the VM with the others.
  for (const script of ["jump-host", "jump-access", "jump-keys"]) {
    assert.equal(inputs(resources, `host-scripts-${script}`).remotePath, `/usr/local/lib/semail/${script}.sh`);
  }
  assert.match(inputs(resources, "host-scripts-packages").create, / acl /, "setfacl for the keys directory's parent");
  // The script installs the keys command and refuses a stanza sshd rejects.
  const script = readFileSync(join(PROJECT_DIR, "assets", "host", "jump-host.sh"), "utf8");
  assert.match(script, /install -m 0755 -o root -g root "\$lib\/jump-keys\.sh" "\$keys_command"/);
  assert.match(script, /sshd -t/);
});

test("each mailbox writes <owner>.keys with one restricted permitopen line per key, and its delete is guarded", async () => {
  const twoKeys = ALICE.replace(`sshKeys: ["${ALICE_KEY}"]`, `sshKeys: ["${ALICE_KEY}", "${SECOND_KEY}"]`);
  const { resources, result } = await runStack(usersYaml(twoKeys, BOB));
  const jump = resources.find((r) => r.name === "mailbox-alice-jump")!;
  assert.match(jump.parent, /Mailbox::mailbox-alice$/);
  assert.ok(
    jump.dependencies.some((d) => d.endsWith("::host-scripts-jump")),
    "waits for the jump account",
  );
  const a = inputs(resources, "mailbox-alice-jump");
  assert.equal(
    a.create,
    "bash /usr/local/lib/semail/jump-access.sh write --owner alice --dir /etc/semail/jump --group semail-jumpkeys",
  );
  const expected = `restrict,port-forwarding,permitopen="172.30.0.2:22" ${ALICE_KEY}\nrestrict,port-forwarding,permitopen="172.30.0.2:22" ${SECOND_KEY}\n`;
  assert.equal(a.stdin, expected);
  assert.equal(
    a.delete,
    `bash /usr/local/lib/semail/jump-access.sh remove --owner alice --dir /etc/semail/jump --sha256 ${sha256(expected)}`,
  );
  assert.equal(a.triggers, undefined, "a key change updates the file in place, never create-then-delete");
  // bob has no keys: an empty file, so no access.
  assert.equal(inputs(resources, "mailbox-bob-jump").stdin, "");

  assert.equal((await settle(result.userSshCommands.alice!)).value, "ssh -J semail-jump@192.0.2.25 alice@172.30.0.2");
  assert.deepEqual(Object.keys(result.userSshCommands).sort(), ["alice", "bob"]);
});

test("removing a user deletes only their key file, with the content they had", async () => {
  const before = await runStack(usersYaml(ALICE, BOB, CAROL));
  const after = await runStack(usersYaml(ALICE, CAROL));
  assert.ok(!after.resources.some((r) => r.name === "mailbox-bob-jump"));
  assert.match(
    inputs(before.resources, "mailbox-bob-jump").delete,
    /jump-access\.sh remove --owner bob --dir \/etc\/semail\/jump --sha256 [0-9a-f]{64}$/,
  );
  assert.deepEqual(
    inputs(after.resources, "mailbox-alice-jump"),
    inputs(before.resources, "mailbox-alice-jump"),
    "alice's file untouched",
  );
});

test("key lines: refuse a missing address and a key that would smuggle options", () => {
  assert.equal(jumpKeysFile("10.0.0.7", []), "");
  assert.throws(() => jumpKeysFile("", [ALICE_KEY]), /no IPv4 address on the users' network/);
  assert.throws(() => jumpKeysFile("10.0.0.7:23", [ALICE_KEY]), /no IPv4 address/);
  assert.throws(
    () => jumpKeysFile("10.0.0.7", [`${ALICE_KEY}\nssh-ed25519 AAAA evil`]),
    /not an OpenSSH public key line/,
  );
  assert.throws(() => jumpKeysFile("10.0.0.7", [`command="sh" ${ALICE_KEY}`]), /not an OpenSSH public key line/);
  assert.equal(userSshCommand("bob", "mx.example", "10.0.0.9"), `ssh -J ${JUMP.user}@mx.example bob@10.0.0.9`);
});
