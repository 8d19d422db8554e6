// `semail start` where no Docker engine runs: it starts a dockerd of its own (data under
// <data-dir>/docker), builds the images there once, says so, and stops it on Ctrl-C,
// leaving no process, mount or bridge; the next start reuses the images.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { localInstanceId, onPath, ownDockerPaths } from "../../deploy/local/docker-engine.ts";
import { startLocal, writeLocalSettings } from "./local-process.ts";
import { until } from "../../testkit/until.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const exec = promisify(execFile);
const READY_MS = 20 * 60_000;

async function systemDockerAnswers(): Promise<boolean> {
  return exec("docker", ["version", "--format", "{{.Server.Version}}"], {
    env: { ...process.env, DOCKER_HOST: "unix:///var/run/docker.sock" },
    timeout: 10_000,
  }).then(
    () => true,
    () => false,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has stopped too.
  return !/^\d+ \(.*\) Z/s.test(
    (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        return "";
      }
    })(),
  );
}

const skip = needsRoot;

test("with no engine running, semail start runs its own dockerd and stops it on Ctrl-C", {
  skip,
  timeout: READY_MS + 5 * 60_000,
}, async (t) => {
  if (!(await onPath("dockerd"))) return t.skip("dockerd not installed");
  if (await systemDockerAnswers()) return t.skip("/var/run/docker.sock answers: semail start would use that engine");
  const dataDir = await mkdtemp(join(tmpdir(), "semail-own-docker-"));
  const paths = ownDockerPaths(dataDir);
  const id = localInstanceId(dataDir);
  let local: Awaited<ReturnType<typeof startLocal>> | undefined;
  t.after(async () => {
    await local?.kill();
    // Whatever a failed run left: its dockerd (by its pid file), mounts and bridges.
    const pid = Number.parseInt(await readFile(paths.pidFile, "utf8").catch(() => ""), 10);
    if (pid > 0 && alive(pid)) {
      process.kill(pid, "SIGKILL");
      await until(() => !alive(pid), `the killed dockerd (pid ${pid}) to be gone`, 5000, 100).catch(() => undefined);
    }
    const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((l) => l.split(" ")[1] ?? "");
    for (const m of mounts.filter((m) => m.startsWith(`${paths.run}/`) || m.startsWith(`${dataDir}/`)).reverse())
      await exec("umount", ["-l", m]).catch(() => undefined);
    for (const bridge of [paths.bridge, ...paths.networkBridges])
      await exec("ip", ["link", "del", bridge]).catch(() => undefined);
    await rm(paths.run, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });
  await writeLocalSettings(dataDir);
  // No DOCKER_HOST: the engine is looked for at /var/run/docker.sock only.
  const env = { DOCKER_HOST: "" };

  let started = Date.now();
  local = await startLocal(dataDir, { containers: true, env, readyMs: READY_MS });
  t.diagnostic(`first start (own dockerd, images built): ${Math.round((Date.now() - started) / 1000)} s`);
  assert.match(local.output(), /Starting a Docker engine of local mode's own/);
  assert.match(local.output(), /\[1\/\d\] /, "the build says its steps");
  assert.match(local.output(), /Docker: local mode's own dockerd/);
  const pid = Number.parseInt(await readFile(paths.pidFile, "utf8"), 10);
  assert.ok(alive(pid), "dockerd runs");
  assert.match(
    await exec("docker", ["ps", "--format", "{{.Names}}"], { env: { ...process.env, DOCKER_HOST: paths.socket } }).then(
      (r) => r.stdout,
    ),
    new RegExp(`semail-${id}-jump`),
  );

  assert.equal(await local.interrupt(), 0);
  assert.match(local.output(), /stopped local mode's own Docker engine \(dockerd on unix:\/\/\/run\/semail-local-/);
  assert.ok(!alive(pid), "dockerd is stopped");
  const mounts = await readFile("/proc/self/mounts", "utf8");
  assert.ok(!mounts.includes(paths.run) && !mounts.includes(dataDir), "no mount left");
  assert.equal(
    await readFile(paths.socket.replace("unix://", "")).then(
      () => "there",
      () => "gone",
    ),
    "gone",
    "its socket and exec root are removed",
  );
  for (const bridge of [paths.bridge, ...paths.networkBridges]) {
    assert.equal(
      await readFile(`/sys/class/net/${bridge}/type`, "utf8").catch(() => "gone"),
      "gone",
      `${bridge} is removed`,
    );
  }

  started = Date.now();
  local = await startLocal(dataDir, { containers: true, env, readyMs: 120_000 });
  t.diagnostic(`later start (own dockerd, images reused): ${Math.round((Date.now() - started) / 1000)} s`);
  assert.match(local.output(), /Images: reusing the built ones/);
  assert.doesNotMatch(local.output(), /Building/);
  assert.equal(await local.interrupt(), 0);
});
