// Local mode keeps what other uids read under a directory they can reach, wherever the clone is.
import assert from "node:assert/strict";
import { chmod, stat } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { closedAncestor } from "../../../lib/closed-ancestor.ts";
import { makeReachable, reachableDir } from "../../../deploy/local/reachable-dir.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("a data dir under a closed directory gets a reachable one elsewhere, the same each time", async (t) => {
  const top = await tempDir(t, "semail-reach-");
  await chmod(top, 0o755);
  const home = join(top, "home");
  await makeReachable(home);
  await chmod(home, 0o700);
  const dataDir = join(home, "clone", "var", "local");
  const root = join(top, "lib");
  const chosen = await reachableDir(dataDir, root);
  assert.ok(chosen.startsWith(`${root}/`), `${chosen} is under ${root}`);
  assert.equal(await reachableDir(dataDir, root), chosen);
  assert.notEqual(await reachableDir(join(home, "other"), root), chosen);
  await makeReachable(chosen);
  assert.equal(await closedAncestor(join(chosen, "x")), undefined);
});

test("an open data dir is its own reachable dir, made passable even under umask 077", async (t) => {
  const top = await tempDir(t, "semail-reach-");
  await chmod(top, 0o755);
  const dataDir = join(top, "clone", "var", "local");
  assert.equal(await reachableDir(dataDir, join(top, "lib")), dataDir);
  const umask = process.umask(0o077);
  try {
    await makeReachable(dataDir);
  } finally {
    process.umask(umask);
  }
  for (const dir of [join(top, "clone"), join(top, "clone", "var"), dataDir]) {
    assert.equal((await stat(dir)).mode & 0o777, 0o711, dir);
  }
  assert.equal(await closedAncestor(join(dataDir, "x")), undefined);
});
