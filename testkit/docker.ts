// A Docker engine for tests: the one DOCKER_HOST (or /var/run/docker.sock) names when it
// answers, else a dockerd of the tests' own, shared by every test process of the run.
// The shared dockerd is reference-counted under a lock in STATE: each process adds its pid
// at start and removes it at release; the last one out stops dockerd (by its pid,
// waiting). A process that died without releasing is dropped by the next one, so a killed
// run leaves nothing running past the next run's end. Its data root (built images) stays
// in DATA_ROOT, outside the clone, so the next run builds from cache.
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { processRunning } from "../lib/process-alive.ts";
import { lockHolder, tryLockFile } from "./lock-file.ts";
import { dockerAnswers, dockerRunner, onPath, terminateDockerd } from "../deploy/local/docker-engine.ts";
import { until } from "./until.ts";
import { isRoot } from "./needs-root.ts";

const STATE = "/run/semail-test-docker";
const DATA_ROOT = "/var/lib/semail-test-docker";
const SOCKET = `unix://${STATE}/docker.sock`;
const PIDFILE = `${STATE}/dockerd.pid`;
const USERS = `${STATE}/users`;
const LOCK = `${STATE}/lock`;
const START_MS = 60_000;
const LOCK_MS = 120_000;
/** The default bridge of the tests' dockerd: its own, never docker0, which another engine may use. */
const BRIDGE = "semail-test0";
const BRIDGE_ADDRESS = "10.214.0.1/24";

export interface DockerEngine {
  /** The DOCKER_HOST value the `docker` commands use. */
  readonly host: string;
  /** True when the tests started this dockerd themselves. */
  readonly own: boolean;
  /** Runs `docker ARGS` against this engine; rejects with its stderr. */
  docker(args: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<string>;
  /** Lets go of the engine: the last test process stops the tests' own dockerd. */
  release(): Promise<void>;
}

const exec = promisify(execFile);

/**
 * Runs `fn` holding the lock file (its content: our pid), waiting at most `waitMs` for it;
 * a lock whose holder died is taken over.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, waitMs = LOCK_MS): Promise<T> {
  await until(
    async () => {
      if (tryLockFile(path)) return true;
      const holder = await lockHolder(path);
      if (holder !== undefined && !processRunning(holder)) await rm(path, { force: true });
      return false;
    },
    `the lock ${path}`,
    waitMs,
    200,
  );
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** Pids of the test processes using the shared dockerd, after dropping the dead ones. */
async function liveUsers(): Promise<number[]> {
  const pids = (await readdir(USERS).catch(() => [] as string[])).map(Number);
  for (const pid of pids.filter((p) => !processRunning(p))) await rm(join(USERS, String(pid)), { force: true });
  return pids.filter((p) => processRunning(p));
}

async function dockerdPid(): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(PIDFILE, "utf8").catch(() => ""), 10);
  return Number.isSafeInteger(pid) && pid > 0 && processRunning(pid) ? pid : undefined;
}

async function startDockerd(): Promise<void> {
  await mkdir(DATA_ROOT, { recursive: true });
  const log = openSync(`${STATE}/dockerd.log`, "a");
  // Its own default bridge (made here: dockerd only adopts one) and no iptables rules:
  // another engine on this machine keeps its docker0 and its NAT, and containers on the
  // tests' networks reach only each other and the host. Image builds use the host's network
  // (build.sh). Not --bridge=none, nor --default-address-pool: with either, dockerd deletes
  // the link named docker0 at start (the second flag from its second start on), whoever
  // owns it. The tests' networks come from the default pools, which skip subnets in use.
  if (
    !(await readFile(`/sys/class/net/${BRIDGE}/type`, "utf8").then(
      () => true,
      () => false,
    ))
  ) {
    await exec("ip", ["link", "add", BRIDGE, "type", "bridge"], { timeout: 10_000 });
    await exec("ip", ["addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE], { timeout: 10_000 });
  }
  const child = spawn(
    "dockerd",
    [
      "--data-root",
      DATA_ROOT,
      "--exec-root",
      `${STATE}/exec`,
      "--pidfile",
      PIDFILE,
      "-H",
      SOCKET,
      `--bridge=${BRIDGE}`,
      "--iptables=false",
      "--ip-masq=false",
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  closeSync(log);
  child.unref();
  const failed = new Promise<never>((_, fail) => child.once("error", fail));
  await Promise.race([
    failed,
    until(() => dockerAnswers(SOCKET), `dockerd to answer on ${SOCKET} (log: ${STATE}/dockerd.log)`, START_MS, 200),
  ]);
}

/**
 * Removes what tests left on the shared engine (labelled semail-test): a test whose release
 * ran before its own cleanup leaves containers and networks in the data root, and enough
 * networks exhaust the address pools. Called only when no other test process uses it.
 */
async function removeTestLeftovers(): Promise<void> {
  const docker = dockerRunner(SOCKET, 60_000);
  const containers = (await docker(["ps", "-aq", "--filter", "label=semail-test"])).split("\n").filter(Boolean);
  if (containers.length > 0) await docker(["rm", "-f", "-v", ...containers]);
  await docker(["network", "prune", "-f", "--filter", "label=semail-test"]);
}

async function stopDockerd(): Promise<void> {
  const pid = await dockerdPid();
  if (pid !== undefined) await terminateDockerd(pid);
  // What dockerd leaves: its default network namespace bind-mounted in the exec root (and,
  // when it was killed, its data root's mounts), and the bridge made for it.
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((line) => line.split(" ")[1] ?? "");
  const ours = (m: string) => m.startsWith(`${STATE}/`) || m === DATA_ROOT || m.startsWith(`${DATA_ROOT}/`);
  for (const mount of mounts.filter(ours).reverse()) {
    await exec("umount", [mount], { timeout: 10_000 });
  }
  await exec("ip", ["link", "del", BRIDGE], { timeout: 10_000 }).catch(() => undefined);
}

/** The engine to test on; call release() in an `after` hook. */
export async function dockerEngine(): Promise<DockerEngine> {
  if (!(await onPath("docker")))
    throw new Error("docker not found: the image tests need Docker (apt-get install docker.io, or run .ci/setup)");
  for (const host of [process.env.DOCKER_HOST, "unix:///var/run/docker.sock"]) {
    if (host && host !== SOCKET && (await dockerAnswers(host)))
      return { host, own: false, docker: dockerRunner(host, 60_000), release: async () => undefined };
  }
  if (!(await onPath("dockerd")))
    throw new Error("dockerd not found and no Docker engine answers: apt-get install docker.io (or run .ci/setup)");
  if (!isRoot)
    throw new Error("no Docker engine answers (DOCKER_HOST, /var/run/docker.sock), and starting one needs root");
  await mkdir(USERS, { recursive: true });
  await withLock(LOCK, async () => {
    await liveUsers();
    if ((await dockerdPid()) === undefined || !(await dockerAnswers(SOCKET))) {
      await startDockerd();
      await removeTestLeftovers();
    }
    await writeFile(join(USERS, String(process.pid)), "");
  });
  let released = false;
  return {
    host: SOCKET,
    own: true,
    docker: dockerRunner(SOCKET, 60_000),
    release: () =>
      released
        ? Promise.resolve()
        : withLock(LOCK, async () => {
            released = true;
            await rm(join(USERS, String(process.pid)), { force: true });
            if ((await liveUsers()).length > 0) return;
            await removeTestLeftovers().catch(() => undefined);
            await stopDockerd();
          }),
  };
}
