// Local mode's own dockerd leaves the machine as it found it: IPv4 forwarding (which dockerd
// turns on) is put back, and the directories it and its containerd make under /run
// (/run/docker/plugins, /run/containerd/s) are removed; while another engine runs, both
// are left to it, and the stop says so. Each case runs in fresh network and mount namespaces
// (a tmpfs on /run), so the values are the test's own and other engines on this machine
// are neither seen nor disturbed. Needs root and dockerd.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { promisify } from "node:util";
import { onPath } from "../../../deploy/local/docker-engine.ts";
import { processRunning } from "../../../lib/process-alive.ts";
import { until } from "../../../testkit/until.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";
import { RELEASE_LOOP_MOUNT_COPIES } from "../../../testkit/loop-mount-copies.ts";

const run = promisify(execFile);
const CHILD = join(import.meta.dirname, "own-dockerd-child.ts");

interface Look {
  readonly ipForward: string;
  readonly interfaceForwarding: string;
  readonly run: string[];
}

/** Why this machine cannot run these tests, or undefined. */
async function cannot(): Promise<string | undefined> {
  if (needsRoot) return needsRoot;
  if (!(await onPath("dockerd"))) return "dockerd is not installed";
  const ok = await run("unshare", ["--net", "--mount", "true"]).then(
    () => true,
    () => false,
  );
  return ok ? undefined : "cannot make network and mount namespaces here (unshare --net --mount)";
}

/** A root filesystem of one program, /bin/sleep with the libraries it loads, as a tar for `docker import`. */
async function sleepRootfs(dir: string): Promise<string> {
  const root = join(dir, "rootfs");
  const files = [
    "/bin/sleep",
    ...(await run("ldd", ["/bin/sleep"])).stdout
      .split("\n")
      .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
      .filter((f): f is string => f !== undefined),
  ];
  for (const file of files) {
    await mkdir(join(root, file, ".."), { recursive: true });
    await run("cp", ["-L", file, join(root, file)]);
  }
  const tar = join(dir, "rootfs.tar");
  await run("tar", ["-C", root, "-cf", tar, "."]);
  return tar;
}

/** own-dockerd-child.ts in fresh namespaces with local mode's data in `dataDirs` (one, or two for a second engine). */
async function inNamespaces(t: TestContext, dataDirCount: 1 | 2) {
  const dir = await mkdtemp(join(tmpdir(), "semail-own-dockerd-"));
  const dataDirs = [join(dir, "data"), join(dir, "other")].slice(0, dataDirCount);
  t.after(async () => {
    // A child killed half-way leaves its dockerd running in those namespaces: stop it by its pid file.
    for (const dataDir of dataDirs) {
      const pid = Number.parseInt(await readFile(join(dataDir, "docker", "dockerd.pid"), "utf8").catch(() => ""), 10);
      if (pid > 0 && processRunning(pid)) {
        process.kill(pid, "SIGKILL");
        await until(() => !processRunning(pid), `dockerd ${pid} to die`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  });
  const rootfs = await sleepRootfs(dir);
  const { stdout } = await run(
    "unshare",
    [
      "--net",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `${RELEASE_LOOP_MOUNT_COPIES}; mount -t tmpfs semail-test-run /run && exec "$@"`,
      "sh",
      process.execPath,
      CHILD,
      dataDirs[0]!,
      rootfs,
      ...dataDirs.slice(1),
    ],
    { timeout: 4 * 60_000, maxBuffer: 16 << 20 },
  );
  const seen = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
    before: Look;
    during: Look;
    afterFirst?: Look;
    after: Look;
    said: string[];
  };
  t.diagnostic(`the stops said: ${seen.said.filter((line) => line.startsWith("  ")).join(" /") || "(nothing)"}`);
  // What the engine changes, seen while it runs: otherwise these tests would prove nothing.
  assert.equal(seen.before.ipForward, "0");
  assert.equal(seen.during.ipForward, "1", "dockerd turns IPv4 forwarding on");
  assert.ok(
    seen.during.run.includes("/run/docker/plugins") && seen.during.run.includes("/run/containerd/s"),
    `dockerd and its containerd make their /run directories: ${seen.during.run.join(" ")}`,
  );
  return seen;
}

test("local mode's own dockerd: ip_forward (and each interface's forwarding) is put back and its /run directories removed after it stops", {
  timeout: 5 * 60_000,
}, async (t) => {
  const reason = await cannot();
  if (reason) return t.skip(reason);
  const seen = await inNamespaces(t, 1);
  assert.equal(seen.after.ipForward, "0", "put back after it stopped");
  assert.equal(seen.before.interfaceForwarding, "1");
  assert.equal(seen.after.interfaceForwarding, "1", "an interface that forwarded on its own does again");
  assert.ok(
    seen.said.includes("  put back net.ipv4.ip_forward = 0 (dockerd had changed it)"),
    `the stop says so: ${seen.said.join("\n")}`,
  );
  assert.deepEqual(
    seen.after.run.filter((entry) => !seen.before.run.includes(entry)),
    [],
    "nothing new is left under /run",
  );
});

test("two local modes' dockerds: the first to stop leaves ip_forward and /run's directories to the other, which puts them back when it stops", {
  timeout: 5 * 60_000,
}, async (t) => {
  const reason = await cannot();
  if (reason) return t.skip(reason);
  const seen = await inNamespaces(t, 2);
  // The second found forwarding on (the first's doing): only the first's record knows it was off.
  assert.equal(seen.afterFirst?.ipForward, "1", "the engine still running keeps its forwarding");
  assert.ok(seen.afterFirst.run.includes("/run/docker/plugins"), "and its plugin directory");
  const said = seen.said.join("\n");
  assert.match(
    said,
    /^ {2}net\.ipv4\.ip_forward stays 1 \(it was 0\): another Docker engine runs here \(dockerd \(pid \d+\)\); local mode's other engine puts it back when it stops$/m,
  );
  assert.match(
    said,
    /^ {2}left \/run\/containerd\/s, \/run\/containerd, \/run\/docker\/plugins, \/run\/docker: another engine runs here \(.*dockerd \(pid \d+\).*\); local mode's other engine removes them when it stops$/m,
  );

  assert.equal(seen.after.ipForward, "0", "the last one out puts back the value from before the first");
  assert.equal(seen.after.interfaceForwarding, "1");
  assert.deepEqual(
    seen.after.run.filter((entry) => !seen.before.run.includes(entry)),
    [],
    "nothing new is left under /run",
  );
});
