// The Pulumi applier's kept mail (issue 20 item 12), against a real host: a test sshd on
// 127.0.0.1 as the VM, the stack's config from a stand-in `pulumi` CLI (the real one and its
// cloud cannot run here), and mailbox-fs.sh on real loop devices. The form asks what is kept
// and records the owner's answer; the next create (as the stack update runs it) carries it out.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { createPulumiApplier } from "../../../deploy/pulumi/applier.ts";
import { keptMailOfLine, vmMailboxesOf } from "../../../deploy/pulumi/kept-mail.ts";
import { sshdMissing, startTestSshd } from "../../../testkit/rig/providers/sshd-fixture.ts";
import { REPO_ROOT } from "../../../testkit/repo-path.ts";
import { needsLoopDevices } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const skip = needsLoopDevices || (sshdMissing() ?? false);

/** A `pulumi` that selects the stack and prints config.json for `pulumi config --show-secrets --json`. */
const FAKE_PULUMI = `#!/bin/sh
here=$(dirname "$0")/..
case "$1 $2" in
  "version "*) echo "v3.200.0" ;;
  "stack select") ;;
  "config --show-secrets") cat "$here/config.json" ;;
  *) echo "fake pulumi: unexpected $*" >&2; exit 2 ;;
esac
`;

/** The stack's config as `pulumi config --json` prints it. */
const configJson = (values: Record<string, string>) =>
  JSON.stringify(
    Object.fromEntries(
      Object.entries(values).map(([k, v]) => [`semail:${k}`, { value: v, secret: k === "sshPrivateKey" }]),
    ),
  );

async function vmWithKeptMail(t: TestContext) {
  const root = await mkdtemp(join(tmpdir(), "semail-kept-mail-"));
  const mailRoot = join(root, "mail");
  const imageDir = join(root, "images");
  const fstab = join(root, "fstab");
  t.after(async () => {
    await run("bash", [
      "-c",
      `findmnt -n -l -o TARGET | grep -F ${root} | xargs -r -n1 umount -l; losetup -n -O NAME,BACK-FILE -l | grep -F ${root} | awk '{print $1}' | xargs -r -n1 losetup -d; true`,
    ]);
    await rm(root, { recursive: true, force: true });
  });
  const sshd = await startTestSshd();
  t.after(() => sshd.stop());
  await mkdir(join(root, "bin"));
  await writeFile(join(root, "bin", "pulumi"), FAKE_PULUMI);
  await chmod(join(root, "bin", "pulumi"), 0o755);
  const project = join(root, "project");
  await mkdir(project);
  await writeFile(join(project, "Pulumi.yaml"), "name: semail\nruntime: nodejs\n");
  await writeFile(
    join(root, "config.json"),
    configJson({
      vmProvider: "existing",
      vmIp: sshd.host,
      vmUser: sshd.user,
      vmHostKey: sshd.hostKey.split(" ").slice(0, 2).join(" "),
      vmSshViaDom0: "false",
      sshPrivateKey: sshd.privateKey,
      managedDomain: "semail.email",
      ldapBaseDn: "dc=semail,dc=email",
      storageBackend: "image",
      imageDir,
      mailRoot,
    }),
  );
  // The stack update's create, as components/mailbox.ts has it run (the fstab a test's own).
  const create = (address: string) =>
    run("bash", [
      join(REPO_ROOT, "assets/host/mailbox-fs.sh"),
      "create",
      "--owner",
      "bob",
      "--size",
      String(32 * MiB),
      "--mail-root",
      mailRoot,
      "--image-dir",
      imageDir,
      "--fstab",
      fstab,
      "--address",
      address,
    ]);
  // The applier reads the script from the project, as it sends it to the VM.
  const applier = createPulumiApplier({
    projectDir: REPO_ROOT,
    workDir: project,
    stack: "prod",
    cliRoot: root,
    vmSshPort: sshd.port,
  });
  return { applier, create, inbox: join(mailRoot, "bob", "INBOX"), imageDir };
}

test("keptMail asks the VM; restore brings the old mail back under the new address at the next create", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const vm = await vmWithKeptMail(t);
  assert.equal(await vm.applier.keptMail!("bob"), undefined, "nothing kept yet");
  await vm.create("bob@example.org");
  await writeFile(vm.inbox, "From a@b Mon Nov 23 00:00:00 2026\n\nold mail\n");
  // bob's mailbox is deleted: the filesystem stays (retainOnDelete), mounted.
  assert.deepEqual(await vm.applier.keptMail!("bob"), { address: "bob@example.org", bytes: 32 * MiB, inUse: false });

  await vm.applier.decideKeptMail!("bob", "bob@example.net", "restore");
  assert.equal((await vm.applier.keptMail!("bob"))?.address, "bob@example.net");
  const { stderr } = await vm.create("bob@example.net");
  assert.equal(stderr, "");
  assert.match(await readFile(vm.inbox, "utf8"), /old mail/);
});

test("set-aside starts the new mailbox empty, even under the same address; without an answer another address starts empty too", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const vm = await vmWithKeptMail(t);
  await vm.create("bob@example.org");
  await writeFile(vm.inbox, "From a@b Mon Nov 23 00:00:00 2026\n\nold mail\n");

  await vm.applier.decideKeptMail!("bob", "bob@example.org", "set-aside");
  const same = await vm.create("bob@example.org");
  assert.match(same.stderr, /is set aside as/);
  assert.equal(await readFile(vm.inbox, "utf8"), "", "none of the old mail");

  // Another address with no answer recorded (an operator's users list edit): set aside too.
  await writeFile(vm.inbox, "From a@b Mon Nov 23 00:00:00 2026\n\nsecond mail\n");
  await vm.create("bob@example.net");
  assert.equal(await readFile(vm.inbox, "utf8"), "");
  assert.equal(
    (await readdir(join(vm.imageDir, "set-aside"))).filter((f) => f.endsWith(".img")).length,
    2,
    "both kept, neither deleted",
  );
});

test("a VM that cannot be reached is a plain-words rejection, not a silent nothing", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const vm = await vmWithKeptMail(t);
  const broken = createPulumiApplier({
    projectDir: REPO_ROOT,
    workDir: join(vm.imageDir, "..", "project"),
    stack: "prod",
    cliRoot: join(vm.imageDir, ".."),
    vmSshPort: 1,
  });
  await assert.rejects(broken.keptMail!("bob"), /the VM 127\.0\.0\.1 did not answer about the kept mail: /);
});

test("the stack's config gives the VM (through dom0 when set) and the storage; kept's line becomes the form's KeptMail", () => {
  const config = JSON.parse(
    configJson({
      vmIp: "192.0.2.25",
      vmHostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5n0Lq3yJ3gq0TbXb1wqHc2l1m3p6Yx0b6n9k2JdXQ",
      dom0Host: "dom0.example.net",
      dom0HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHu5n0Lq3yJ3gq0TbXb1wqHc2l1m3p6Yx0b6n9k2JdXQ",
      vmGateway: "192.0.2.1",
      vmDataDisk: "/dev/sdb",
      managedDomain: "semail.email",
      ldapBaseDn: "dc=semail,dc=email",
      sshPrivateKey: "KEY",
    }),
  );
  const where = vmMailboxesOf(config);
  assert.deepEqual(where.storage, { backend: "lvm", vgName: "semail", mailRoot: "/var/mail/semail" });
  assert.equal(where.vm.host, "192.0.2.25");
  assert.equal(where.vm.privateKey, "KEY");
  assert.equal(where.vm.proxy?.host, "dom0.example.net");
  assert.throws(
    () => vmMailboxesOf({ ...config, "semail:sshPrivateKey": { value: "", secret: true } }),
    /no semail:sshPrivateKey/,
  );

  assert.equal(keptMailOfLine('{"kept":false}'), undefined);
  assert.deepEqual(
    keptMailOfLine('{"kept":true,"bytes":33554432,"mounted":true,"address":"bob@example.org","decision":"set-aside"}'),
    { address: "bob@example.org", bytes: 33554432, inUse: false },
  );
  assert.deepEqual(
    keptMailOfLine('{"kept":true,"bytes":33554432,"mounted":false}'),
    { bytes: 33554432, inUse: false },
    "made before addresses were recorded",
  );
  assert.throws(() => keptMailOfLine("bash: mailbox-fs.sh: No such file"), /not a line of JSON/);
});
