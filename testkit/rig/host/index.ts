// An existing Debian host to deploy onto, for tests: a container on the tests' engine that
// behaves like a small VM (systemd, sshd, its own dockerd, loop devices), on a Docker network
// of the test's own, reached as root over SSH with a key pair made for it. Everything it
// starts is undone in t.after: inside first (teardown.sh), then the container and network.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestContext } from "node:test";
import { dockerEngine, type DockerEngine } from "../../docker.ts";
import { until } from "../../until.ts";
import { claimDataSlot, type DataSlot } from "./data-slot.ts";
import { buildRigImage } from "./image.ts";
import { cgroupLayout, vmLikeRunFlags } from "./run-flags.ts";
import { makeKeyPair, sshExec, sshOptions, writeKnownHosts } from "./ssh.ts";

const READY_MS = 90_000;
const SLOT_LABEL = "semail-test-rig-slot";

export interface RigHostOptions {
  /** The engine to run on; by default the tests' own (dockerEngine()), released after. */
  readonly engine?: DockerEngine;
  /** The subnet of the rig's network (Docker picks one by default; subnet.ts has free ones). */
  readonly subnet?: string;
}

export interface RigHost {
  /** The rig's address on its network: reachable from this machine, published ports included. */
  readonly address: string;
  readonly sshPort: number;
  /** The OpenSSH private key authorized for root. */
  readonly privateKey: string;
  /** The rig's host key, `ssh-ed25519 AAAA…`. */
  readonly hostKey: string;
  /** ssh options that use this key and accept only this host key (files in a temp dir). */
  readonly sshOptions: readonly string[];
  /** The container, its network, and the host directory at its /var/lib/docker. */
  readonly container: string;
  readonly network: string;
  readonly dockerDataDir: string;
  /** Runs `command` in root's shell over SSH. */
  exec(command: string, options?: { input?: string | Buffer; timeoutMs?: number }): Promise<string>;
  /** Runs the rig's own `docker ARGS` (by docker exec: it works whatever sshd's state). */
  docker(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Copies `tag` from the tests' engine into the rig's dockerd. */
  loadImage(tag: string): Promise<void>;
  /** Undoes everything (also run by t.after); fails naming what it could not undo. */
  stop(): Promise<void>;
}

/** Pipes `docker save TAG` on one engine into `docker exec -i C docker load`, bounded. */
function pipeImage(engine: DockerEngine, container: string, tag: string, timeoutMs = 5 * 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, DOCKER_HOST: engine.host };
    const save = spawn("docker", ["save", tag], { env, stdio: ["ignore", "pipe", "pipe"] });
    const load = spawn("docker", ["exec", "-i", container, "docker", "load"], {
      env,
      stdio: ["pipe", "ignore", "pipe"],
    });
    save.stdout.pipe(load.stdin);
    let errors = "";
    for (const p of [save, load]) p.stderr.setEncoding("utf8").on("data", (d: string) => (errors += d));
    const timer = setTimeout(() => {
      save.kill();
      load.kill();
    }, timeoutMs);
    let pending = 2;
    let failed = false;
    const done = (what: string) => (code: number | null) => {
      if (code !== 0) failed = true;
      if (code !== 0 && what === "save") load.stdin.destroy();
      if (--pending > 0) return;
      clearTimeout(timer);
      if (failed)
        reject(new Error(`loading ${tag} into the rig: ${errors.trim() || "docker save/load failed or timed out"}`));
      else resolve();
    };
    save.once("close", done("save"));
    load.once("close", done("load"));
  });
}

export async function startRigHost(t: TestContext, options: RigHostOptions = {}): Promise<RigHost> {
  const cgroups = cgroupLayout(await readFile("/proc/self/mountinfo", "utf8"), await readFile("/proc/cgroups", "utf8"));
  const engine = options.engine ?? (await dockerEngine());
  const owned = options.engine === undefined;
  const name = `semail-test-rig-${process.pid}-${Date.now().toString(36)}`;
  const scratch = await mkdtemp(join(tmpdir(), "semail-rig-"));
  let slot: DataSlot | undefined;
  let network: string | undefined;
  let container: string | undefined;
  const teardown = teardownOf(engine, () => ({ container, network }));

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      let clean = false;
      try {
        clean = await teardown();
      } finally {
        await slot?.release(clean);
        await rm(scratch, { recursive: true, force: true });
        if (owned) await engine.release();
      }
    })());
  t.after(stop);

  const image = await buildRigImage(engine);
  // A rig a killed test left on this slot: undone the same way, then removed.
  slot = await claimDataSlot(async (index) => {
    for (const orphan of (await engine.docker(["ps", "-aq", "--filter", `label=${SLOT_LABEL}=${index}`]))
      .split("\n")
      .filter(Boolean)) {
      const network = (
        await engine.docker([
          "inspect",
          "-f",
          "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}",
          orphan,
        ])
      ).trim();
      await teardownOf(engine, () => ({ container: orphan, network: network || undefined }))().catch(() => undefined);
    }
  });
  await engine.docker([
    "network",
    "create",
    "--label",
    "semail-test",
    ...(options.subnet ? ["--subnet", options.subnet] : []),
    name,
  ]);
  network = name;
  // Named before it runs: a container created but not started is still removed.
  container = name;
  container = (
    await engine.docker([
      "run",
      "-d",
      "--name",
      name,
      "--hostname",
      "semail-rig",
      "--label",
      "semail-test",
      "--label",
      `${SLOT_LABEL}=${slot.index}`,
      "--network",
      network,
      ...vmLikeRunFlags({ cgroups, dockerDataDir: slot.dir }),
      image,
    ])
  ).trim();
  const inside = (args: string[], input?: string) =>
    engine.docker(["exec", ...(input === undefined ? [] : ["-i"]), container!, ...args], { input });
  const address = (
    await engine.docker(["inspect", "-f", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container])
  ).trim();

  // Booted: systemd says running (degraded names the failed units). Before PID 1 answers,
  // systemctl fails; that is retried, a finished boot in any other state is not.
  let state = "";
  await until(
    async () => {
      state = (
        await inside(["systemctl", "is-system-running", "--wait"]).catch((e: Error) => `not yet: ${e.message}`)
      ).trim();
      return !state.startsWith("not yet") && !["initializing", "starting"].includes(state);
    },
    () => `the rig's systemd to finish booting (last: ${state})`,
    READY_MS,
  );
  if (state !== "running")
    throw new Error(
      `the rig booted ${state}: ${await inside(["systemctl", "--failed", "--no-legend"]).catch(() => "?")}`,
    );

  const keys = await makeKeyPair(scratch);
  await inside(
    ["sh", "-c", "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys"],
    `${keys.publicKey}\n`,
  );
  const hostKey = (await inside(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])).trim().split(" ").slice(0, 2).join(" ");
  const ssh = sshOptions(keys.privateKeyPath, await writeKnownHosts(scratch, address, hostKey));
  let lastError = "";
  await until(
    () =>
      sshExec(ssh, address, "true", { timeoutMs: 15_000 }).then(
        () => true,
        (e: Error) => {
          lastError = e.message;
          return false;
        },
      ),
    () => `sshd on ${address} to let root in (${lastError})`,
    READY_MS,
  );

  return {
    address,
    sshPort: 22,
    privateKey: keys.privateKey,
    hostKey,
    sshOptions: ssh,
    container,
    network,
    dockerDataDir: slot.dir,
    exec: (command, o) => sshExec(ssh, address, command, o),
    docker: (args, o) =>
      engine.docker(["exec", ...(o?.input === undefined ? [] : ["-i"]), container!, "docker", ...args], o),
    loadImage: (tag) => pipeImage(engine, container!, tag),
    stop,
  };
}

/**
 * Undoes a rig: teardown.sh inside (inner containers, loop mounts and devices, dockerd),
 * then the container and network; then checks from outside that no loop device it reported
 * is still attached. Resolves whether all went cleanly; rejects naming what is left.
 */
function teardownOf(
  engine: DockerEngine,
  parts: () => { container?: string; network?: string },
): () => Promise<boolean> {
  return async () => {
    const { container, network } = parts();
    const problems: string[] = [];
    let loops: string[] = [];
    if (container !== undefined) {
      try {
        loops = (await engine.docker(["exec", container, "semail-rig-teardown"], { timeoutMs: 120_000 }))
          .split("\n")
          .filter(Boolean);
      } catch (err) {
        const running = await engine.docker(["inspect", "-f", "{{.State.Running}}", container]).then(
          (s) => s.trim() === "true",
          () => false,
        );
        if (running) problems.push(`teardown inside ${container.slice(0, 12)}: ${(err as Error).message}`);
      }
      // STOPSIGNAL is SIGRTMIN+3: systemd shuts down in order.
      await engine.docker(["stop", "-t", "30", container], { timeoutMs: 60_000 }).catch(() => undefined);
      await engine
        .docker(["rm", "-f", "-v", container])
        .catch((e: Error) => /No such container/i.test(e.message) || problems.push(e.message));
    }
    if (network !== undefined)
      await engine.docker(["network", "rm", network]).catch((e: Error) => problems.push(e.message));
    if (loops.length > 0) {
      const { stdout } = await promisify(execFile)("losetup", ["-l", "-n", "-O", "NAME,BACK-MAJ:MIN,BACK-INO"], {
        timeout: 10_000,
      });
      const attached = new Set(stdout.split("\n").map((l) => l.trim().split(/\s+/).join(" ")));
      for (const loop of loops.filter((l) => attached.has(l))) problems.push(`loop device still attached: ${loop}`);
    }
    if (problems.length > 0) throw new Error(`the rig left something behind: ${problems.join("; ")}`);
    return true;
  };
}
