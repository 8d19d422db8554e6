// `docker:index/image:Image`, upstream's one native resource (pulumi-docker provider/image.go,
// provider.go), with skipPush only: Check fills in the build defaults and a digest of the
// build context; Diff compares those inputs with the ones saved in `__inputs`; Create and
// Update run `docker build` on the provider's host and set repoDigest to the built image's
// ID (what upstream sets for a local, unpushed image); Read changes nothing and Delete
// leaves the image where it is, as upstream does.
import { stat } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import type { DockerRun } from "../docker-cli.ts";
import {
  notSupported,
  type CheckResult,
  type Created,
  type DiffResult,
  type PropertyChange,
  type ResourceKind,
} from "../resource-kind.ts";
import type { FieldRules } from "../rules/field-rules.ts";
import { checkInputs } from "../rules/input-check.ts";
import { containsUnknown, isObject, isUnknown, secret, type Props } from "../wire.ts";
import { contextDigest } from "./context-digest.ts";

const BUILD_TIMEOUT_MS = 30 * 60_000;

/** What the stand-in takes; registry, cacheFrom and pushing are upstream's and fail loudly. */
const IMAGE_INPUTS: FieldRules = {
  imageName: { shape: "string" },
  skipPush: { shape: "bool" },
  buildOnPreview: { shape: "bool" },
  build: {
    shape: "object",
    fields: {
      context: { shape: "string" },
      dockerfile: { shape: "string" },
      args: { shape: "stringMap" },
      platform: { shape: "string" },
      target: { shape: "string" },
      network: { shape: "string" },
      addHosts: { shape: "stringList" },
      builderVersion: { shape: "string" },
    },
  },
};

/** The platform upstream builds for when none is set: linux and the provider's architecture. */
export function hostPlatform(arch: string = process.arch): string {
  return `linux/${arch === "x64" ? "amd64" : arch}`;
}

/** Object keys in order, so two equal values print the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "null";
}

async function checkDockerfile(context: string, dockerfile: string): Promise<void> {
  const found = await stat(dockerfile).then(
    () => true,
    () => false,
  );
  if (found) return;
  if (isAbsolute(dockerfile))
    throw new Error(`expected a relative Dockerfile path; got ${JSON.stringify(dockerfile)} instead: no such file`);
  const inContext = join(context, dockerfile);
  if (
    await stat(inContext).then(
      () => true,
      () => false,
    )
  ) {
    throw new Error(
      `could not open dockerfile at relative path ${JSON.stringify(dockerfile)}. Try setting \`dockerfile\` to ${JSON.stringify(inContext)}`,
    );
  }
  throw new Error(`could not open dockerfile at relative path ${JSON.stringify(dockerfile)}: no such file`);
}

/** Upstream's Check: defaults for build, context and Dockerfile, the platform, the context digest. */
export async function checkImage(news: Props): Promise<CheckResult> {
  const failures = checkInputs(news, IMAGE_INPUTS, ["imageName"]);
  if (news.skipPush === false)
    failures.push({ property: "skipPush", reason: notSupported("pushing an image (skipPush: false)") });
  if (isObject(news.build) && news.build.builderVersion === "BuilderBuildKit") {
    failures.push({
      property: "build.builderVersion",
      reason: notSupported("BuildKit (this docker CLI has no buildx; it builds with the classic builder)"),
    });
  }
  if (failures.length > 0) return { inputs: news, failures };
  const inputs: Props = { ...news, buildOnPreview: news.buildOnPreview === true };
  const build: Props = isObject(news.build) ? { ...news.build } : {};
  inputs.build = build;
  if (!isUnknown(build.context)) build.context ??= ".";
  if (!isUnknown(build.dockerfile))
    build.dockerfile ??= join(typeof build.context === "string" ? build.context : "", "Dockerfile");
  if (typeof build.dockerfile === "string" && typeof build.context === "string") {
    await checkDockerfile(build.context, build.dockerfile);
    build.contextDigest = await contextDigest(build.context, build.dockerfile);
  }
  build.platform ??= hostPlatform();
  return { inputs, failures: [] };
}

/** Upstream's Diff: the saved inputs against the new ones, key by key; never a replacement. */
export function diffImage(olds: Props, news: Props): DiffResult {
  const oldInputs = isObject(olds.__inputs) ? olds.__inputs : {};
  const changes: Record<string, PropertyChange> = {};
  for (const key of new Set([...Object.keys(oldInputs), ...Object.keys(news)])) {
    const [old, now] = [oldInputs[key], news[key]];
    if (old === undefined || old === null) {
      if (now !== undefined && now !== null) changes[key] = "add";
    } else if (now === undefined || now === null) {
      changes[key] = "delete";
    } else if (containsUnknown(now) || canonical(old) !== canonical(now)) {
      changes[key] = "update";
    }
  }
  return { changes, replaces: [], deleteBeforeReplace: false };
}

/** Upstream's canPreview: build in a preview only when asked and the build inputs are known. */
function canPreview(inputs: Props): boolean {
  if (inputs.buildOnPreview !== true) return false;
  const build = inputs.build;
  return (
    isObject(build) &&
    !containsUnknown(build.dockerfile) &&
    !containsUnknown(build.context) &&
    !containsUnknown(build.args) &&
    !containsUnknown(inputs.imageName)
  );
}

/** The `docker build` arguments for the checked inputs. */
export function buildArgs(inputs: Props): string[] {
  const build = inputs.build as Props;
  const args = ["build", "-q", "-t", String(inputs.imageName), "-f", String(build.dockerfile)];
  if (typeof build.platform === "string" && build.platform !== "") args.push("--platform", build.platform);
  for (const [key, value] of Object.entries(isObject(build.args) ? build.args : {}))
    args.push("--build-arg", `${key}=${String(value)}`);
  // The rig's host has no way out but the rig's archive proxy (testkit/rig/archive-proxy.ts).
  // http_proxy is a predefined build arg: Docker keeps it out of the cache key and the image.
  const proxy = process.env.SEMAIL_RIG_BUILD_PROXY;
  if (proxy) args.push("--build-arg", `http_proxy=${proxy}`);
  if (typeof build.target === "string" && build.target !== "") args.push("--target", build.target);
  if (typeof build.network === "string" && build.network !== "") args.push("--network", build.network);
  for (const host of Array.isArray(build.addHosts) ? build.addHosts : []) args.push("--add-host", String(host));
  args.push(String(build.context));
  return args;
}

/** Builds and returns upstream's outputs, the inputs saved beside them. */
async function buildImage(docker: DockerRun, inputs: Props): Promise<Created> {
  const build = inputs.build as Props;
  const imageName = String(inputs.imageName);
  // The CLI sends the context (honouring .dockerignore) over the provider's host.
  await docker(buildArgs(inputs), { timeoutMs: BUILD_TIMEOUT_MS });
  const id = (await docker(["image", "inspect", "--format", "{{.Id}}", imageName])).trim();
  const outputs: Props = {
    dockerfile: relative(String(build.context), String(build.dockerfile)),
    context: build.context,
    baseImageName: imageName,
    registryServer: "",
    imageName,
    platform: build.platform,
    // Upstream, skipPush: "We set repoDigest to the image ID returned from docker inspect."
    repoDigest: id,
    // Upstream keeps its inputs in the state, as a secret (they may hold registry passwords).
    __inputs: secret(inputs),
  };
  return { id: imageName, outputs };
}

export function imageKind(docker: DockerRun): ResourceKind {
  return {
    check: (_olds, news) => checkImage(news),
    diff: diffImage,
    async create(news, preview) {
      if (preview && !canPreview(news)) return { id: "", outputs: news };
      return buildImage(docker, news);
    },
    read: async (_id, olds) => olds,
    async update(_id, _olds, news, preview) {
      if (preview && !canPreview(news)) return news;
      return (await buildImage(docker, news)).outputs;
    },
    delete: async () => undefined,
  };
}
