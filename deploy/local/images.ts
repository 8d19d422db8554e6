// The images local mode runs: the Debian base (assets/images/base.sh), the user image,
// the apt proxy and the jump image, built on the engine local mode uses. Each is tagged with a hash of its
// build inputs (the base's image id and the files its Dockerfile copies), so a later start
// finds the tag and builds nothing, and a changed input gets a new tag.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, readdir, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Docker } from "./docker-engine.ts";

/** assets/: the image folders, and the host scripts the jump image copies. */
const ASSETS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "assets");
const IMAGES = join(ASSETS, "images");
export const BASE_IMAGE = "debian:bookworm-slim";
const BUILD_MS = 30 * 60_000;

interface Role {
  readonly role: "user" | "jump" | "apt-proxy";
  /** The docker build context. */
  readonly context: string;
  readonly dockerfile: string;
  /** Every file the build reads (the Dockerfile among them). */
  readonly inputs: () => Promise<string[]>;
}

async function folder(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort().map((name) => join(dir, name));
}

const ROLES: readonly Role[] = [
  {
    role: "user",
    context: join(IMAGES, "user"),
    dockerfile: join(IMAGES, "user", "Dockerfile"),
    inputs: () => folder(join(IMAGES, "user")),
  },
  {
    role: "apt-proxy",
    context: join(IMAGES, "apt-proxy"),
    dockerfile: join(IMAGES, "apt-proxy", "Dockerfile"),
    inputs: () => folder(join(IMAGES, "apt-proxy")),
  },
  {
    role: "jump",
    context: ASSETS,
    dockerfile: join(IMAGES, "jump", "Dockerfile"),
    inputs: async () => [
      ...(await folder(join(IMAGES, "jump"))),
      ...["jump-host.sh", "jump-keys.sh", "jump-access.sh"].map((s) => join(ASSETS, "host", s)),
    ],
  },
];

export interface LocalImages {
  readonly user: string;
  readonly aptProxy: string;
  readonly jump: string;
}

const byRole = (tag: (role: Role) => string): LocalImages => ({
  user: tag(ROLES.find((r) => r.role === "user")!),
  aptProxy: tag(ROLES.find((r) => r.role === "apt-proxy")!),
  jump: tag(ROLES.find((r) => r.role === "jump")!),
});

/** The tag of a role's image: semail-local/<role>:<first 12 hex of the inputs' hash>. */
async function imageTag(role: Role, baseId: string): Promise<string> {
  const hash = createHash("sha256").update(`base ${baseId}\n`);
  for (const file of await role.inputs()) {
    const { mode } = await stat(file);
    hash
      .update(`${relative(ASSETS, file)} ${mode & 0o111 ? "x" : "-"}\n`)
      .update(await readFile(file))
      .update("\n");
  }
  return `semail-local/${role.role}:${hash.digest("hex").slice(0, 12)}`;
}

/** The tags the images get on the base with image id `baseId`, from the files as they are now. */
export async function localImageTags(baseId: string): Promise<LocalImages> {
  const tags = new Map<Role, string>();
  for (const role of ROLES) tags.set(role, await imageTag(role, baseId));
  return byRole((role) => tags.get(role)!);
}

async function exists(docker: Docker, image: string): Promise<boolean> {
  return docker.run(["image", "inspect", "--format", "{{.Id}}", image], { timeoutMs: 30_000 }).then(
    () => true,
    () => false,
  );
}

/**
 * Makes sure the base and both images exist, building what is missing, and says on the
 * terminal what it does: which step of how many, and the build's own steps as they come.
 */
export async function ensureLocalImages(
  docker: Docker,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<LocalImages> {
  const started = Date.now();
  const needBase = !(await exists(docker, BASE_IMAGE));
  // Before the base exists its id is unknown, so every image is to be built.
  const baseId = needBase ? "" : (await docker.run(["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE])).trim();
  const tags = new Map<Role, string>();
  for (const role of ROLES) tags.set(role, needBase ? "" : await imageTag(role, baseId));
  const toBuild: Role[] = [];
  for (const role of ROLES) if (needBase || !(await exists(docker, tags.get(role)!))) toBuild.push(role);
  const steps = (needBase ? 1 : 0) + toBuild.length;
  if (steps === 0) {
    say(
      `Images: reusing the built ones (${ROLES.map((r) => tags.get(r)).join(", ")}); nothing changed since they were built`,
    );
    return byRole((role) => tags.get(role)!);
  }
  say(
    `Building ${steps} image${steps > 1 ? "s" : ""} for the users' containers (${[...(needBase ? ["base"] : []), ...toBuild.map((r) => r.role)].join(", ")}); the first start takes a few minutes, later ones reuse them`,
  );
  let step = 0;
  const heading = (what: string) =>
    say(`  [${++step}/${steps}] ${what}${steps - step > 0 ? ` (${steps - step} more after this)` : ""}`);
  if (needBase) {
    heading(`${BASE_IMAGE}: Debian from debootstrap (assets/images/base.sh)`);
    const t = Date.now();
    await runBaseScript(docker, (line) => say(`        ${line}`), signal);
    say(`        done in ${seconds(t)}`);
    const id = (await docker.run(["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE])).trim();
    for (const role of ROLES) tags.set(role, await imageTag(role, id));
  }
  for (const role of toBuild) {
    const tag = tags.get(role)!;
    if (await exists(docker, tag)) {
      heading(`${tag}: already built`);
      continue;
    }
    heading(`${tag} (${relative(join(ASSETS, ".."), role.dockerfile)})`);
    const t = Date.now();
    const recent: string[] = [];
    await docker
      .stream(
        [
          "build",
          "--network",
          "host",
          "--label",
          `semail.local.role=${role.role}`,
          "-t",
          tag,
          "-f",
          role.dockerfile,
          role.context,
        ],
        (line) => {
          recent.push(line);
          if (recent.length > 40) recent.shift();
          // The classic builder's "Step 3/9 : RUN apt-get ..." lines are the progress.
          const stepLine = /^Step (\d+\/\d+) : (.*)$/.exec(line);
          if (stepLine) say(`        step ${stepLine[1]}: ${stepLine[2]!.slice(0, 100)}`);
        },
        { timeoutMs: BUILD_MS, env: { DOCKER_BUILDKIT: "0" }, ...(signal ? { signal } : {}) },
      )
      .catch((err: Error) => {
        throw new Error(`building ${tag} failed: ${err.message}\n${recent.join("\n")}`);
      });
    say(`        done in ${seconds(t)}`);
  }
  say(`Images ready in ${seconds(started)}`);
  // Older builds of the same roles go (one still used by a container stays until it is replaced).
  for (const role of ROLES) {
    const [repo, current] = tags.get(role)!.split(":");
    const old = (await docker.run(["images", repo!, "--format", "{{.Tag}}"]).catch(() => ""))
      .split("\n")
      .filter((tag) => tag !== "" && tag !== current);
    for (const tag of old) await docker.run(["rmi", `${repo}:${tag}`]).catch(() => undefined);
  }
  return byRole((role) => tags.get(role)!);
}

function seconds(since: number): string {
  return `${Math.round((Date.now() - since) / 1000)} s`;
}

async function runBaseScript(docker: Docker, line: (text: string) => void, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    // Its own process group, ended by `semail start` on Ctrl-C (debootstrap cleans up on TERM).
    const child = spawn("bash", [join(IMAGES, "base.sh"), BASE_IMAGE], {
      env: { ...process.env, DOCKER_HOST: docker.host },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), BUILD_MS);
    const abort = () => child.kill("SIGTERM");
    signal?.addEventListener("abort", abort, { once: true });
    for (const stream of [child.stdout, child.stderr]) {
      let tail = "";
      stream.setEncoding("utf8").on("data", (chunk: string) => {
        const lines = (tail + chunk).split("\n");
        tail = lines.pop()!;
        for (const text of lines) if (text.trim() !== "") line(text);
      });
    }
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      if (code === 0) resolve();
      else
        reject(
          new Error(signal?.aborted ? "assets/images/base.sh was interrupted" : `assets/images/base.sh exited ${code}`),
        );
    });
  });
}
