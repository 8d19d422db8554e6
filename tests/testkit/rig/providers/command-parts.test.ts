// The command stand-in's parts without the engine: its reading of wire values, host keys,
// diffs, dial retries and checks, then its resources against a real sshd of the test's own.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import * as rpc from "@pulumi/pulumi/runtime/rpc.js";
import { sshConnection, type SshConnection } from "../../../../testkit/rig/providers/command/connection.ts";
import { copyToRemote } from "../../../../testkit/rig/providers/command/copy-to-remote.ts";
import { diffInputs } from "../../../../testkit/rig/providers/command/diff-rules.ts";
import { dialTries, withDialRetry, type DialOutcome } from "../../../../testkit/rig/providers/command/dial-retry.ts";
import { hostKeyAlgorithms, parseHostKey } from "../../../../testkit/rig/providers/command/host-key.ts";
import { remoteCommand } from "../../../../testkit/rig/providers/command/remote-command.ts";
import { runRemote } from "../../../../testkit/rig/providers/command/ssh-session.ts";
import {
  ARCHIVE_SIG,
  ASSET_SIG,
  reveal,
  secret,
  SECRET_SIG,
  SPECIAL_SIG_KEY,
  UNKNOWN,
  type Props,
} from "../../../../testkit/rig/providers/command/wire-values.ts";
import { makeKey, sshdMissing, startTestSshd, type TestSshd } from "../../../../testkit/rig/providers/sshd-fixture.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";

const ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIGnYhKJO0jzVU83c4F/CsrqvKvsuoWdyr5x/LncMxbml";

test("the wire signatures are the SDK's", () => {
  assert.equal(SPECIAL_SIG_KEY, rpc.specialSigKey);
  assert.equal(SECRET_SIG, rpc.specialSecretSig);
  assert.equal(ASSET_SIG, rpc.specialAssetSig);
  assert.equal(ARCHIVE_SIG, rpc.specialArchiveSig);
  assert.equal(UNKNOWN, rpc.unknownValue);
});

test("a host key is read from an authorized_keys line, options and comment aside", () => {
  assert.deepEqual(parseHostKey(`ssh-ed25519 ${ED25519} root@vm`), { type: "ssh-ed25519", base64: ED25519 });
  assert.deepEqual(parseHostKey(`no-pty ssh-ed25519 ${ED25519}`), { type: "ssh-ed25519", base64: ED25519 });
  assert.throws(() => parseHostKey(`ssh-rsa ${ED25519}`), /failed to parse host key/);
  assert.throws(() => parseHostKey("not a key"), /failed to parse host key/);
  assert.equal(hostKeyAlgorithms({ type: "ssh-rsa", base64: "" }), "rsa-sha2-512,rsa-sha2-256,ssh-rsa");
});

test("diff: triggers replace, every other input updates in place, secretness alone is no change", () => {
  const old = { create: "a", triggers: ["x"], connection: secret({ host: "h" }) };
  assert.deepEqual(diffInputs(old, { ...old, create: "b" }, ["triggers"]), {
    changed: true,
    changes: { create: "update" },
    replaces: [],
  });
  assert.deepEqual(diffInputs(old, { ...old, triggers: ["y"] }, ["triggers"]), {
    changed: true,
    changes: { triggers: "update" },
    replaces: ["triggers"],
  });
  assert.deepEqual(diffInputs(old, { ...old, connection: { host: "h" } }, ["triggers"]), {
    changed: false,
    changes: {},
    replaces: [],
  });
  assert.deepEqual(diffInputs(old, { ...old, create: UNKNOWN }, ["triggers"]).changes, { create: "update" });
  assert.deepEqual(diffInputs(old, { ...old, create: undefined, stdin: "s" }, ["triggers"]).changes, {
    create: "delete",
    stdin: "add",
  });
  assert.deepEqual(diffInputs({ ...old, __internal: 1 }, old, ["triggers"]).changed, false);
});

test("dialling is tried dialErrorLimit + 1 times with upstream's growing waits", async () => {
  const waits: number[] = [];
  let tries = 0;
  const failing = async (): Promise<DialOutcome<string>> => {
    tries += 1;
    return { dialed: false, error: `refused ${tries}` };
  };
  const sleep = async (ms: number) => void waits.push(ms);
  await assert.rejects(withDialRetry(2, failing, new AbortController().signal, sleep), {
    message: "after 2 failed attempts: refused 3",
  });
  assert.deepEqual(waits, [100, 150]);
  assert.equal(dialTries(-1), 100);
  let second = 0;
  const dialsSecondTime = async (): Promise<DialOutcome<string>> =>
    (second += 1) === 2 ? { dialed: true, value: "ok" } : { dialed: false, error: "no" };
  assert.equal(await withDialRetry(1, dialsSecondTime, new AbortController().signal, sleep), "ok");
});

test("check writes upstream's connection defaults, keeps the connection secret and refuses what it does not serve", () => {
  const checked = remoteCommand.check({ connection: { host: "vm", privateKey: secret("k") }, create: "true" });
  assert.deepEqual(checked.failures, []);
  assert.equal((checked.inputs.connection as Props)[SPECIAL_SIG_KEY], SECRET_SIG);
  assert.deepEqual(reveal(checked.inputs.connection), {
    host: "vm",
    privateKey: "k",
    user: "root",
    port: 22,
    dialErrorLimit: 10,
    perDialTimeout: 15,
  });
  const viaJump = remoteCommand.check({ connection: secret({ host: "vm", proxy: { host: "dom0", port: 2222 } }) });
  assert.deepEqual((reveal(viaJump.inputs.connection) as Props).proxy, {
    host: "dom0",
    port: 2222,
    user: "root",
    dialErrorLimit: 10,
    perDialTimeout: 15,
  });
  const refused = remoteCommand.check({
    connection: { host: "vm", password: "p", proxy: { host: "j", agentSocketPath: "/s" } },
    logging: "stdout",
    create: 3,
  });
  assert.deepEqual(refused.failures.map((f) => f.property).sort(), [
    "connection.password",
    "connection.proxy.agentSocketPath",
    "create",
    "logging",
  ]);
  assert.match(
    refused.failures.find((f) => f.property === "logging")?.reason ?? "",
    /not supported by the SEMail test rig stand-in/,
  );
  assert.deepEqual(
    remoteCommand.check({ create: "true" }).failures.map((f) => f.property),
    ["connection"],
  );
  assert.deepEqual(remoteCommand.check({ connection: UNKNOWN, create: UNKNOWN }).failures, []);
});

/** A started sshd for the tests below, stopped after `t`. */
async function sshdFor(t: TestContext): Promise<TestSshd> {
  const sshd = await startTestSshd();
  t.after(() => sshd.stop());
  return sshd;
}

function connection(sshd: TestSshd, overrides: Props = {}): Props {
  return {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: sshd.privateKey,
    hostKey: sshd.hostKey,
    dialErrorLimit: 0,
    perDialTimeout: 5,
    ...overrides,
  };
}

const signal = new AbortController().signal;
const op = { preview: false, name: "part", signal };

test("a remote command over OpenSSH", { skip: sshdMissing(), timeout: 60_000 }, async (t) => {
  const sshd = await sshdFor(t);
  const conn: SshConnection = sshConnection(connection(sshd));

  await t.test("stdout, stderr and the exit status come back apart; stdin and environment go in", async () => {
    const run = await runRemote(conn, `cat; echo "[$GREETING]"; echo to-err >&2; exit 4`, {
      stdin: { text: "from stdin\n" },
      env: { GREETING: 'it\'s "quoted" $HOME' },
      signal,
    });
    assert.equal(run.stdout, `from stdin\n[it's "quoted" $HOME]\n`);
    assert.equal(run.stderr, "to-err\n");
    assert.equal(run.exitCode, 4);
  });

  await t.test("a command exiting 255 is its own failure, not a dial to retry", async () => {
    const run = await runRemote({ ...conn, dialErrorLimit: 5 }, "echo once; exit 255", { signal });
    assert.deepEqual([run.stdout, run.exitCode], ["once\n", 255]);
  });

  await t.test("a closed port fails after dialErrorLimit retries", async () => {
    const closed = { ...conn, port: 1, dialErrorLimit: 1 };
    await assert.rejects(runRemote(closed, "true", { signal }), /after 1 failed attempts: .*Connection refused/);
  });

  await t.test("a wrong host key is refused; with no host key any is accepted", async () => {
    const dir = await tempDir(t, "semail-rig-keys-");
    const other = await makeKey(dir, "other");
    await assert.rejects(
      runRemote({ ...conn, hostKey: other.publicKey }, "true", { signal }),
      /Host key verification failed/,
    );
    const { hostKey: _none, ...unchecked } = conn;
    assert.equal((await runRemote(unchecked, "echo any", { signal })).stdout, "any\n");
  });

  await t.test("create, update and delete run the right command; a preview runs none", async () => {
    const dir = await tempDir(t, "semail-rig-cmd-");
    const log = join(dir, "log");
    const inputs = {
      connection: secret(connection(sshd)),
      create: `echo create >> ${log}; echo made`,
      update: `echo "update after $PULUMI_COMMAND_STDOUT" >> ${log}; echo updated`,
      delete: `echo "delete after $PULUMI_COMMAND_STDOUT" >> ${log}`,
    };
    const preview = await remoteCommand.create(inputs, { ...op, preview: true });
    assert.deepEqual([preview.outputs.stdout, existsSync(log)], [UNKNOWN, false]);
    const created = await remoteCommand.create(inputs, op);
    assert.equal(created.outputs.stdout, "made");
    assert.match(created.id, /^part[0-9a-f]{8}$/);
    const updated = await remoteCommand.update(created.outputs, { ...inputs, stdin: "x" }, op);
    assert.equal(updated.stdout, "updated");
    await remoteCommand.delete(updated, op);
    assert.deepEqual((await readFile(log, "utf8")).trim().split("\n"), [
      "create",
      "update after made",
      "delete after updated",
    ]);
  });

  await t.test("a copy lands inside an existing directory, else at remotePath with parents made", async () => {
    const dir = await tempDir(t, "semail-rig-copy-");
    const file = join(dir, "script.sh");
    await writeFile(file, "#!/bin/sh\necho hi\n");
    await mkdir(join(dir, "into"));
    const asset = { [SPECIAL_SIG_KEY]: ASSET_SIG, path: file, hash: "h1" };
    const base = { connection: secret(connection(sshd)), source: asset };
    await copyToRemote.create({ ...base, remotePath: join(dir, "into") }, op);
    assert.equal(await readFile(join(dir, "into", "script.sh"), "utf8"), "#!/bin/sh\necho hi\n");
    await copyToRemote.create({ ...base, remotePath: join(dir, "new", "deep", "named.sh") }, op);
    assert.equal(await readFile(join(dir, "new", "deep", "named.sh"), "utf8"), "#!/bin/sh\necho hi\n");
    const text = { [SPECIAL_SIG_KEY]: ASSET_SIG, text: "words\n", hash: "h2" };
    await assert.rejects(
      copyToRemote.create({ ...base, source: text, remotePath: join(dir, "into") }, op),
      /is a directory; when using a text asset/,
    );
  });
});
