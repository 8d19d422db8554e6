// The Docker engine local mode runs the users' containers on: the one DOCKER_HOST names, or
// /var/run/docker.sock, when it answers; else a dockerd of local mode's own (as root), its
// data under <data-dir>/docker, stopped again when `semail start` stops, and what it changed
// on the machine put back (engine-host-changes.ts).
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { access, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { processRunning } from "../../lib/process-alive.ts";
import { recordHostState, restoreHostState, type EngineIdentity } from "./engine-host-changes.ts";

const exec = promisify(execFile);
const START_MS = 60_000;
const STOP_MS = 30_000;
/** Each instance's own (from its id), so two local modes' dockerds never share an address. */
const bridgeAddress = (id: string) => `10.217.${Number.parseInt(id.slice(0, 2), 16)}.1/24`;

export interface Docker {
  /** The DOCKER_HOST value every `docker` command gets. */
  readonly host: string;
  /** True when local mode started this dockerd (and stops it). */
  readonly own: boolean;
  /** `docker ARGS`; rejects with docker's own message. */
  run(args: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<string>;
  /** `docker ARGS` with each output line handed to `line` as it comes (long builds). */
  stream(
    args: readonly string[],
    line: (text: string) => void,
    options?: { timeoutMs?: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal },
  ): Promise<void>;
  /** Stops our own dockerd (a no-op for an engine that was running already). */
  stop(): Promise<void>;
}

/** Why local mode has no users' containers, said once in the banner; undefined when it has them. */
export type NoDocker = { readonly reason: string };

/** `docker ARGS` against `host` (DOCKER_HOST), rejecting with docker's own message; local mode's and the tests'. */
export function dockerRunner(host: string, defaultTimeoutMs = 120_000): Docker["run"] {
  return async (args, { timeoutMs = defaultTimeoutMs, input } = {}) => {
    const child = exec("docker", [...args], {
      env: { ...process.env, DOCKER_HOST: host },
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    if (input !== undefined) child.child.stdin!.end(input);
    try {
      return (await child).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`docker ${args.slice(0, 3).join(" ")}: ${(e.stderr ?? "").trim() || e.message}`, { cause: err });
    }
  };
}

function streamer(host: string): Docker["stream"] {
  return (args, line, { timeoutMs = 30 * 60_000, env = {}, signal } = {}) =>
    new Promise((resolve, reject) => {
      // Its own process group: a Ctrl-C on the terminal reaches `semail start`, which ends it.
      const child = spawn("docker", [...args], {
        env: { ...process.env, ...env, DOCKER_HOST: host },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
      const abort = () => child.kill("SIGTERM");
      signal?.addEventListener("abort", abort, { once: true });
      let tail = "";
      const split = (chunk: string) => {
        const lines = (tail + chunk).split(/\r?\n/);
        tail = lines.pop()!;
        for (const text of lines) if (text.trim() !== "") line(text);
      };
      child.stdout.setEncoding("utf8").on("data", split);
      child.stderr.setEncoding("utf8").on("data", split);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("close", (code, killed) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        if (tail.trim() !== "") line(tail);
        if (code === 0) resolve();
        else if (signal?.aborted) reject(new Error(`docker ${args[0]} was interrupted`));
        else
          reject(
            new Error(
              `docker ${args.slice(0, 2).join(" ")} ${killed ? `was stopped (${killed}, after ${timeoutMs / 60_000} min)` : `exited ${code}`}`,
            ),
          );
      });
    });
}

/** Whether a Docker engine answers at `host` within 10 s. */
export async function dockerAnswers(host: string): Promise<boolean> {
  return dockerRunner(host)(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 }).then(
    () => true,
    () => false,
  );
}

/** The short id of the local mode instance kept in `dataDir`: names its containers, networks, chains and own dockerd. */
export function localInstanceId(dataDir: string): string {
  return createHash("sha256").update(dataDir).digest("hex").slice(0, 8);
}

/** Whether `program` is on PATH (or in the sbin directories). */
export async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(":").concat("/usr/sbin", "/sbin", "/usr/bin")) {
    if (
      dir !== "" &&
      (await access(join(dir, program)).then(
        () => true,
        () => false,
      ))
    )
      return true;
  }
  return false;
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if (await check()) return;
  }
  throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
}

/** SIGTERM to a dockerd we started, SIGKILL if it has not stopped within 30 s; waits for the end. */
export async function terminateDockerd(pid: number): Promise<void> {
  process.kill(pid, "SIGTERM");
  try {
    await waitFor(() => !processRunning(pid), STOP_MS, `dockerd (pid ${pid}) to stop`);
  } catch {
    process.kill(pid, "SIGKILL");
    await waitFor(() => !processRunning(pid), 5_000, `dockerd (pid ${pid}) to die`);
  }
}

const RUN_PREFIX = "/run/semail-local-";
const HOST_RECORD = "host-before.json";

/** How our dockerd's processes are told from others', and where another local mode's engine keeps its record. */
function engineIdentity(paths: ReturnType<typeof ownDockerPaths>): EngineIdentity {
  return {
    ownPaths: [paths.run],
    recordOf: (cmdline) => {
      const run = new RegExp(`${RUN_PREFIX}[0-9a-f]{8}`).exec(cmdline)?.[0];
      return run === undefined ? undefined : join(run, HOST_RECORD);
    },
  };
}

/** Where our own dockerd keeps what: data and pid file under the data dir; socket and exec root in /run (a unix socket path has at most 107 bytes). */
export function ownDockerPaths(dataDir: string) {
  const id = localInstanceId(dataDir);
  const run = `${RUN_PREFIX}${id}`;
  return {
    dataRoot: join(dataDir, "docker", "data"),
    pidFile: join(dataDir, "docker", "dockerd.pid"),
    log: join(dataDir, "docker", "dockerd.log"),
    execRoot: join(run, "exec"),
    socket: `unix://${join(run, "docker.sock")}`,
    run,
    /** The sysctls and /run directories as they were before it started (engine-host-changes.ts). */
    hostRecord: join(run, HOST_RECORD),
    /** Our dockerd's default bridge: its own, never docker0, which another engine may use. */
    bridge: `semail-d${id.slice(0, 6)}`,
    bridgeAddress: bridgeAddress(id),
    /** The bridges of the users', jump and apt networks (users-network.ts), which dockerd leaves behind when it stops. */
    networkBridges: [`semail-u${id.slice(0, 6)}`, `semail-j${id.slice(0, 6)}`, `semail-a${id.slice(0, 6)}`],
  };
}

/**
 * The engine for the users' containers, or why there is none. `say` tells the terminal
 * what happens (starting a dockerd takes seconds).
 */
export async function openDocker(dataDir: string, say: (line: string) => void): Promise<Docker | NoDocker> {
  if (!(await onPath("docker")))
    return { reason: "Docker is not installed (apt-get install docker.io, or npm run setup)" };
  for (const host of [process.env.DOCKER_HOST, "unix:///var/run/docker.sock"]) {
    if (host && (await dockerAnswers(host)))
      return { host, own: false, run: dockerRunner(host), stream: streamer(host), stop: async () => undefined };
  }
  if (process.getuid?.() !== 0)
    return { reason: "no Docker engine answers (DOCKER_HOST, /var/run/docker.sock), and starting one needs root" };
  if (!(await onPath("dockerd")))
    return { reason: "no Docker engine answers and dockerd is not installed (apt-get install docker.io)" };
  const paths = ownDockerPaths(dataDir);
  say(`Starting a Docker engine of local mode's own (data in ${paths.dataRoot}, socket ${paths.socket})`);
  await startDockerd(paths, say);
  return {
    host: paths.socket,
    own: true,
    run: dockerRunner(paths.socket),
    stream: streamer(paths.socket),
    stop: () => stopDockerd(paths, say),
  };
}

async function pidOf(pidFile: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(pidFile, "utf8").catch(() => ""), 10);
  return Number.isSafeInteger(pid) && pid > 0 && processRunning(pid) ? pid : undefined;
}

async function startDockerd(paths: ReturnType<typeof ownDockerPaths>, say: (line: string) => void): Promise<void> {
  await mkdir(paths.dataRoot, { recursive: true });
  // A dockerd left by a start that was killed: ours (its pid file), so stop it first, and
  // put back what it had changed.
  await stopDockerd(paths, say);
  await mkdir(paths.run, { recursive: true, mode: 0o700 });
  await recordHostState(paths.hostRecord);
  if (
    !(await readFile(`/sys/class/net/${paths.bridge}/type`, "utf8").then(
      () => true,
      () => false,
    ))
  ) {
    await exec("ip", ["link", "add", paths.bridge, "type", "bridge"], { timeout: 10_000 });
    await exec("ip", ["addr", "add", paths.bridgeAddress, "dev", paths.bridge], { timeout: 10_000 });
  }
  const log = openSync(paths.log, "a");
  // No iptables rules of Docker's and no NAT: local mode's own rules (users-firewall.ts)
  // are all that lets traffic in or out of the users' network. Builds use the host's network.
  // Its own default bridge, and not --bridge=none nor --default-address-pool: with either,
  // dockerd deletes the link named docker0 at start (the second from its second start on),
  // whoever owns it. Its networks come from Docker's default pools, which skip subnets in use.
  const child = spawn(
    "dockerd",
    [
      "--data-root",
      paths.dataRoot,
      "--exec-root",
      paths.execRoot,
      "--pidfile",
      paths.pidFile,
      "-H",
      paths.socket,
      `--bridge=${paths.bridge}`,
      "--iptables=false",
      "--ip-masq=false",
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  closeSync(log);
  child.unref();
  const failed = new Promise<never>((_, fail) => child.once("error", fail));
  const exitedEarly = new Promise<never>((_, fail) =>
    child.once("exit", (code) => fail(new Error(`dockerd exited ${code}; see ${paths.log}`))),
  );
  try {
    await Promise.race([
      failed,
      exitedEarly,
      waitFor(() => dockerAnswers(paths.socket), START_MS, `dockerd to answer on ${paths.socket} (log: ${paths.log})`),
    ]);
  } catch (err) {
    // Nobody else would stop it: the caller gets no engine to stop.
    await stopDockerd(paths, say).catch(() => undefined);
    throw err;
  }
}

/** Stops our own dockerd (by its pid file), removes what it leaves, and puts back what it changed on the machine. */
async function stopDockerd(paths: ReturnType<typeof ownDockerPaths>, say: (line: string) => void): Promise<void> {
  const pid = await pidOf(paths.pidFile);
  if (pid !== undefined) await terminateDockerd(pid);
  // What dockerd leaves: its network namespaces bind-mounted in the exec root, and the
  // bridges (made again at its next start).
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((line) => line.split(" ")[1] ?? "");
  for (const mount of mounts.filter((m) => m.startsWith(`${paths.run}/`)).reverse()) {
    await exec("umount", [mount], { timeout: 10_000 }).catch(() => undefined);
  }
  for (const bridge of [paths.bridge, ...paths.networkBridges])
    await exec("ip", ["link", "del", bridge], { timeout: 10_000 }).catch(() => undefined);
  await restoreHostState(paths.hostRecord, engineIdentity(paths), say);
  if (!(await readFile("/proc/self/mounts", "utf8")).includes(` ${paths.run}/`))
    await rm(paths.run, { recursive: true, force: true });
}
