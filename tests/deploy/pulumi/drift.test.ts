// `npm run drift` (deploy/pulumi/drift.ts): runs the preview, reports a missing CLI plainly.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { repoPath } from "../../helpers/repo-path.ts";

const DRIFT = repoPath("deploy/pulumi/drift.ts");

function drift(path: string, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [DRIFT, ...args], { env: { PATH: path } }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test("without the Pulumi CLI it says so and how to install it, without a stack trace", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "semail-drift-"));
  t.after(() => rm(empty, { recursive: true, force: true }));
  const result = await drift(empty);
  assert.equal(result.code, 127);
  assert.match(result.stderr, /the Pulumi CLI \(pulumi\) is not installed or not in PATH; install it with `curl -fsSL https:\/\/get\.pulumi\.com \| sh`/);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
});

test("runs `pulumi preview --expect-no-changes` and passes its verdict on", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-drift-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fake = join(dir, "pulumi");
  await writeFile(fake, `#!/bin/sh\necho "$*" > ${dir}/args\ncommand -v node > ${dir}/node\nexit "$(cat ${dir}/code)"\n`);
  await chmod(fake, 0o755);

  await writeFile(join(dir, "code"), "0");
  const clean = await drift(`${dir}:/usr/bin:/bin`, ["--stack", "prod"]);
  assert.equal(clean.code, 0);
  assert.equal((await readFile(join(dir, "args"), "utf8")).trim(), "preview --expect-no-changes --diff --stack prod");
  assert.match(await readFile(join(dir, "node"), "utf8"), /node_modules\/\.bin\/node/, "the language host finds Node 26 first");
  assert.match(clean.stderr, /no changes/);

  await writeFile(join(dir, "code"), "255");
  const drifted = await drift(`${dir}:/usr/bin:/bin`);
  assert.equal(drifted.code, 255);
  assert.match(drifted.stderr, /reported changes or failed .*`pulumi refresh`/);
});
