// The rig host's image, built on the tests' engine FROM the Debian base (assets/images/base.sh),
// its local apt archive holding the stack's VM_PACKAGES. Builds take the same machine-wide
// lock as the other test images (fixture.ts), so a second test waits, then hits the cache.
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { VM_PACKAGES } from "../../../config/stack/host-script-paths.ts";
import { withLock, type DockerEngine } from "../../docker.ts";
import { repoPath } from "../../repo-path.ts";

export const RIG_IMAGE = "semail-test/rig-host";
const BASE = "debian:bookworm-slim";
const BUILD_MS = 20 * 60_000;

export async function buildRigImage(engine: DockerEngine): Promise<string> {
  const run = (file: string, args: string[]) =>
    promisify(execFile)(file, args, {
      env: { ...process.env, DOCKER_HOST: engine.host },
      timeout: BUILD_MS,
      maxBuffer: 16 << 20,
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`building ${RIG_IMAGE}: ${err.stderr?.trim() || err.message}`, { cause: err });
    });
  await withLock(
    join(tmpdir(), "semail-image-build.lock"),
    async () => {
      await run(repoPath("assets/images/base.sh"), [BASE]);
      // The host's network for apt-get: the tests' engine gives its bridges no way out.
      await run("docker", [
        "build",
        "-q",
        "--network",
        "host",
        "--build-arg",
        `BASE=${BASE}`,
        "--build-arg",
        `ARCHIVE=${VM_PACKAGES.join(" ")}`,
        "-t",
        RIG_IMAGE,
        repoPath("testkit/rig/host"),
      ]);
    },
    BUILD_MS,
  );
  return RIG_IMAGE;
}
