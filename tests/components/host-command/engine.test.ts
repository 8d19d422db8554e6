// HostCommand under the real engine, against a real sshd: its dynamic provider runs the
// command, and a refresh runs the check again, so a hand edit of what it made is drift that
// `up --refresh` repairs; destroy runs its delete. The provider runs in Pulumi's own
// dynamic-provider plugin (the one that ships in node_modules), no stand-in.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { HostCommand } from "../../../components/host-command.ts";
import { shellLine } from "../../../lib/shell.ts";
import { engineMissing, rigEngine } from "../../../testkit/rig/engine.ts";
import { sshdMissing, startTestSshd } from "../../../testkit/rig/providers/sshd-fixture.ts";
import { REPO_ROOT } from "../../../testkit/repo-path.ts";

const skip = engineMissing() ?? sshdMissing();

test("a hand edit of a HostCommand's file is drift, up --refresh puts it back, destroy removes it", {
  skip,
  timeout: 5 * 60_000,
}, async (t) => {
  const sshd = await startTestSshd();
  t.after(() => sshd.stop());
  const engine = await rigEngine(t, []);
  const file = join(engine.dir, "managed.txt");
  let content = "first\n";
  const program = async () => {
    const connection = pulumi.secret({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: sshd.privateKey,
      hostKey: sshd.hostKey,
    });
    new HostCommand("managed", {
      connection,
      create: shellLine("sh", "-c", `cat > "$1"`, "write", file),
      stdin: content,
      check: shellLine("sha256sum", file),
      delete: shellLine("rm", "-f", file),
    });
    return {};
  };
  const pulumiCommand = await PulumiCommand.get({ root: engine.cliRoot, skipVersionCheck: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "host-command", projectName: "semail-rig", program },
    {
      workDir: engine.dir,
      pulumiCommand,
      envVars: { ...engine.env, NODE_PATH: join(REPO_ROOT, "node_modules") },
    },
  );
  const changed = (summary: { changeSummary?: Record<string, number> }) =>
    Object.entries(summary.changeSummary ?? {}).filter(([op]) => op !== "same");

  await stack.up();
  assert.equal(await readFile(file, "utf8"), "first\n");
  assert.deepEqual(changed(await stack.preview({ refresh: true })), [], "no drift right after up");

  await writeFile(file, "edited by hand\n");
  assert.deepEqual(
    changed(await stack.preview()),
    [],
    "a plain preview compares with the state only: it cannot see the edit",
  );
  assert.deepEqual(
    changed(await stack.preview({ refresh: true })),
    [["update", 1]],
    "with --refresh the edit is drift",
  );
  await stack.up({ refresh: true });
  assert.equal(await readFile(file, "utf8"), "first\n", "up --refresh ran the command again");
  assert.deepEqual(changed(await stack.preview({ refresh: true })), []);

  content = "second\n";
  await stack.up();
  assert.equal(await readFile(file, "utf8"), "second\n", "new stdin runs it again");

  // The backend's own file: the Automation API's exportStack shows secrets in clear.
  const state = await readFile(
    join(engine.dir, "state", ".pulumi", "stacks", "semail-rig", "host-command.json"),
    "utf8",
  );
  assert.match(state, /HostCommand/);
  assert.ok(!state.includes(sshd.privateKey.split("\n")[1]!), "the key stays a secret in the state");

  await stack.destroy();
  await assert.rejects(readFile(file), /ENOENT/, "delete ran");
});
