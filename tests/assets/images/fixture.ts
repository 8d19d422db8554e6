// What the image tests share: an image built by assets/images/build.sh on the test
// engine, and a scope that owns a test's networks, containers and temp dirs and removes
// them all in t.after (containers first, then networks).
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { TestContext } from "node:test";
import { withLock, type DockerEngine } from "../../../testkit/docker.ts";
import { REPO_ROOT } from "../../../testkit/repo-path.ts";
import { until } from "../../../testkit/until.ts";

const ROOT = REPO_ROOT;
const BUILD_MS = 20 * 60_000;
/** Test images are tagged apart from the deployment's semail/<role>. */
const PREFIX = "semail-test/";

/**
 * Builds one image (and the Debian base first) and returns its tag. One build at a time
 * per machine: test files running side by side wait, then find the layers in the cache.
 */
export async function buildImage(engine: DockerEngine, role: string): Promise<string> {
  await withLock(
    path.join(tmpdir(), "semail-image-build.lock"),
    async () => {
      await promisify(execFile)(path.join(ROOT, "assets/images/build.sh"), ["--prefix", PREFIX, role], {
        env: { ...process.env, DOCKER_HOST: engine.host },
        timeout: BUILD_MS,
        maxBuffer: 16 << 20,
      }).catch((err: { stderr?: string; message: string }) => {
        throw new Error(`building ${role}: ${err.stderr?.trim() || err.message}`, { cause: err });
      });
      // Each rebuild leaves the last image and build stage untagged in the tests' own data
      // root, which outlives the run: a day's worth is kept as cache, older ones go.
      if (engine.own) await engine.docker(["image", "prune", "-f", "--filter", "until=24h"]);
    },
    BUILD_MS,
  );
  return `${PREFIX}${role}`;
}

export interface DockerScope {
  /** A new bridge network of this test's own. */
  network(): Promise<string>;
  /** `docker run -d ARGS`, the container removed (with its anonymous volumes) after the test. */
  run(args: readonly string[]): Promise<string>;
  /** A temp dir, removed after the test. */
  dir(prefix: string): Promise<string>;
  /** Waits (bounded) for the container's HEALTHCHECK to say healthy; fails with its log if it stops. */
  healthy(id: string, ms?: number): Promise<void>;
  /** The container's address on `network`. */
  address(id: string, network: string): Promise<string>;
  logs(id: string): Promise<string>;
}

export function dockerScope(t: TestContext, engine: DockerEngine): DockerScope {
  const containers: string[] = [];
  const networks: string[] = [];
  const dirs: string[] = [];
  t.after(async () => {
    for (const id of containers.reverse()) await engine.docker(["rm", "-f", "-v", id]).catch(() => undefined);
    for (const name of networks) await engine.docker(["network", "rm", name]).catch(() => undefined);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const inspect = (id: string, format: string): Promise<string> =>
    engine.docker(["inspect", "-f", format, id]).then((s) => s.trim());
  const logs = async (id: string): Promise<string> => {
    const { stdout, stderr } = await promisify(execFile)("docker", ["logs", id], {
      env: { ...process.env, DOCKER_HOST: engine.host },
      timeout: 10_000,
    });
    return stdout + stderr;
  };
  return {
    async network() {
      const name = `semail-test-${process.pid}-${networks.length}-${Date.now().toString(36)}`;
      await engine.docker(["network", "create", "--label", "semail-test", name]);
      networks.push(name);
      return name;
    },
    async run(args) {
      // Checks every second here (the images say 30 s), so a test waits seconds, not minutes.
      const id = (await engine.docker(["run", "-d", "--label", "semail-test", "--health-interval=1s", ...args])).trim();
      containers.push(id);
      return id;
    },
    async dir(prefix) {
      const dir = await mkdtemp(path.join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async healthy(id, ms = 60_000) {
      await until(
        async () => {
          const [state, health] = (
            await inspect(id, "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
          ).split(" ");
          if (state !== "running" && state !== "created") throw new Error(`it is ${state}`);
          return health === "healthy";
        },
        "it to be healthy",
        ms,
        250,
      ).catch(async (err: Error) => {
        throw new Error(
          `container ${id.slice(0, 12)} is not healthy (${err.message}): ${await logs(id).catch((e: Error) => e.message)}`,
        );
      });
    },
    address: (id, network) => inspect(id, `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`),
    logs,
  };
}
