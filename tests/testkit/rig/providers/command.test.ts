// The command stand-in under the real Pulumi engine, against a real sshd of the test's own:
// what SEMail's program relies on (create, update in place, replace on triggers, delete with
// the old state, copies, clean previews, no drift on refresh, loud failures).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { local, remote, type types } from "@pulumi/command";
import { LocalWorkspace, PulumiCommand, type PulumiFn, type Stack } from "@pulumi/pulumi/automation/index.js";
import { engineMissing, rigEngine, type RigEngine } from "../../../../testkit/rig/engine.ts";
import { makeKey, sshdMissing, startTestSshd, type TestSshd } from "../../../../testkit/rig/providers/sshd-fixture.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";

const STEP_MS = 120_000;
const skip = engineMissing() ?? sshdMissing();

async function stackFor(engine: RigEngine, name: string, program: PulumiFn): Promise<Stack> {
  const pulumiCommand = await PulumiCommand.get({ root: engine.cliRoot, skipVersionCheck: true });
  const workDir = join(engine.dir, `work-${name}`);
  await mkdir(workDir, { recursive: true });
  return LocalWorkspace.createOrSelectStack(
    { stackName: name, projectName: "semail-rig", program },
    { workDir, envVars: engine.env, pulumiCommand },
  );
}

function connectionTo(
  sshd: TestSshd,
  overrides: Partial<types.input.remote.ConnectionArgs> = {},
): types.input.remote.ConnectionArgs {
  return {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKey: pulumi.secret(sshd.privateKey),
    hostKey: sshd.hostKey,
    dialErrorLimit: 1,
    perDialTimeout: 5,
    ...overrides,
  };
}

async function lines(file: string): Promise<string[]> {
  return existsSync(file) ? (await readFile(file, "utf8")).trim().split("\n") : [];
}

/** The error an `up` fails with (the CLI's output, which carries the provider's message). */
async function upError(stack: Stack): Promise<string> {
  const error = await stack.up().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error, "up should have failed");
  return error.message;
}

test("the command stand-in under the real engine", { skip, timeout: 15 * STEP_MS }, async (t) => {
  const sshd = await startTestSshd();
  t.after(() => sshd.stop());
  const engine = await rigEngine(t, ["command"]);
  const dir = await tempDir(t, "semail-rig-remote-");
  const log = join(dir, "log");
  const followLog = join(dir, "follow-log");
  const localFile = join(dir, "local.txt");
  const copied = join(dir, "copies", "deep", "copied.txt");
  await writeFile(localFile, "first content\n");

  // What the program declares; the steps below change it between runs.
  const declared = { generation: "v1", triggers: ["a"] };
  const stack = await stackFor(engine, "lifecycle", async () => {
    const connection = connectionTo(sshd);
    const marker = new remote.Command("marker", {
      connection,
      create: `echo "create ${declared.generation} after [$PULUMI_COMMAND_STDOUT]" >> ${log}; echo stdout-${declared.generation}; echo note >&2`,
      delete: `echo "delete $PULUMI_COMMAND_STDOUT" >> ${log}`,
      triggers: declared.triggers,
    });
    // Its create is unknown in a first preview: nothing may run then.
    new remote.Command("follower", {
      connection,
      create: pulumi.interpolate`echo "follow ${marker.stdout}" >> ${followLog}`,
      stdin: "ignored\n",
    });
    new remote.CopyToRemote("copy", { connection, source: new pulumi.asset.FileAsset(localFile), remotePath: copied });
    return { stdout: marker.stdout, stderr: marker.stderr };
  });

  await t.test("a preview before the first up runs nothing", { timeout: STEP_MS }, async () => {
    const preview = await stack.preview();
    assert.equal(preview.changeSummary.create, 4);
    assert.deepEqual(await lines(log), []);
    assert.equal(existsSync(followLog), false);
    assert.equal(existsSync(copied), false);
  });

  await t.test("up runs create, copies the file and reads stdout back", { timeout: STEP_MS }, async () => {
    const up = await stack.up();
    assert.equal(up.summary.resourceChanges?.create, 4);
    assert.equal(up.outputs.stdout?.value, "stdout-v1");
    assert.equal(up.outputs.stderr?.value, "note");
    assert.deepEqual(await lines(log), ["create v1 after []"]);
    assert.deepEqual(await lines(followLog), ["follow stdout-v1"]);
    assert.equal(await readFile(copied, "utf8"), "first content\n");
  });

  await t.test("the private key stays secret in the state", { timeout: STEP_MS }, async () => {
    // The backend's own file: the Automation API's exportStack shows secrets in clear.
    const state = await readFile(
      join(engine.dir, "state", ".pulumi", "stacks", "semail-rig", "lifecycle.json"),
      "utf8",
    );
    const keyBody = sshd.privateKey.split("\n")[2];
    assert.ok(keyBody && keyBody.length > 20);
    assert.equal(state.includes(keyBody), false, "the private key is in the state in clear");
    assert.match(state, /"ciphertext"/);
  });

  await t.test("a preview right after up is clean", { timeout: STEP_MS }, async () => {
    const preview = await stack.preview({ expectNoChanges: true });
    assert.deepEqual(preview.changeSummary, { same: 4 });
  });

  await t.test("refresh sees no drift in commands", { timeout: STEP_MS }, async () => {
    const refresh = await stack.refresh();
    assert.deepEqual(refresh.summary.resourceChanges, { same: 4 });
    await stack.preview({ expectNoChanges: true });
    assert.deepEqual(await lines(log), ["create v1 after []"]);
  });

  await t.test("changing create updates in place and runs the new create", { timeout: STEP_MS }, async () => {
    declared.generation = "v2";
    const up = await stack.up();
    // The follower's create names the marker's stdout, so it updates too.
    assert.deepEqual(up.summary.resourceChanges, { same: 2, update: 2 });
    assert.equal(up.outputs.stdout?.value, "stdout-v2");
    assert.deepEqual(await lines(log), ["create v1 after []", "create v2 after [stdout-v1]"]);
    assert.deepEqual(await lines(followLog), ["follow stdout-v1", "follow stdout-v2"]);
  });

  await t.test("a changed source file is copied again, in place", { timeout: STEP_MS }, async () => {
    await writeFile(localFile, "second content\n");
    const up = await stack.up();
    assert.deepEqual(up.summary.resourceChanges, { same: 3, update: 1 });
    assert.equal(await readFile(copied, "utf8"), "second content\n");
  });

  await t.test(
    "changing triggers replaces: the new one is created before the old one is deleted",
    { timeout: STEP_MS },
    async () => {
      declared.triggers = ["b"];
      const up = await stack.up();
      assert.equal(up.summary.resourceChanges?.replace, 1);
      assert.deepEqual((await lines(log)).slice(2), ["create v2 after []", "delete stdout-v2"]);
    },
  );

  await t.test("destroy runs delete with the old state and leaves copies in place", { timeout: STEP_MS }, async () => {
    const destroy = await stack.destroy();
    assert.equal(destroy.summary.resourceChanges?.delete, 4);
    assert.deepEqual((await lines(log)).slice(4), ["delete stdout-v2"]);
    assert.equal(existsSync(copied), true);
  });

  await t.test("a failing command fails up with its output", { timeout: STEP_MS }, async () => {
    const failing = await stackFor(engine, "failing", async () => {
      new remote.Command("fails", {
        connection: connectionTo(sshd),
        create: "echo to-stdout; echo boom-on-stderr >&2; exit 3",
      });
    });
    const message = await upError(failing);
    assert.match(message, /Process exited with status 3/);
    assert.match(message, /boom-on-stderr/);
    assert.match(message, /to-stdout/);
    const state = JSON.stringify(await failing.exportStack());
    assert.equal(state.includes("command:remote:Command"), false, "a failed create left a resource in the state");
  });

  await t.test("a wrong host key is refused", { timeout: STEP_MS }, async () => {
    const other = await makeKey(dir, "other_host_key");
    const refused = join(dir, "refused");
    const wrongKey = await stackFor(engine, "wrong-host-key", async () => {
      new remote.Command("refused", {
        connection: connectionTo(sshd, { hostKey: other.publicKey }),
        create: `touch ${refused}`,
      });
    });
    const message = await upError(wrongKey);
    assert.match(message, /Host key verification failed/);
    assert.match(message, /after 1 failed attempts/);
    assert.equal(existsSync(refused), false);
  });

  await t.test("a jump host is used, its host key checked too", { timeout: STEP_MS }, async () => {
    const other = await makeKey(dir, "other_jump_key");
    const jump = { proxyKey: other.publicKey };
    const viaJump = await stackFor(engine, "jump", async () => {
      const proxy = {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        privateKey: pulumi.secret(sshd.privateKey),
        hostKey: jump.proxyKey,
      };
      const hop = new remote.Command("hop", { connection: connectionTo(sshd, { proxy }), create: "echo via-jump" });
      return { stdout: hop.stdout };
    });
    assert.match(await upError(viaJump), /Host key verification failed/);
    jump.proxyKey = sshd.hostKey;
    const up = await viaJump.up();
    assert.equal(up.outputs.stdout?.value, "via-jump");
    await viaJump.destroy();
  });

  await t.test("anything the stand-in does not serve fails loudly", { timeout: STEP_MS }, async () => {
    const localCommand = await stackFor(engine, "local-command", async () => {
      new local.Command("local", { create: "true" });
    });
    assert.match(
      await upError(localCommand),
      /command:local:Command" is not supported by the SEMail test rig stand-in/,
    );
    const logging = await stackFor(engine, "logging", async () => {
      new remote.Command("logged", { connection: connectionTo(sshd), create: "true", logging: "stdout" });
    });
    assert.match(await upError(logging), /"logging" is not supported by the SEMail test rig stand-in/);
  });
});
