// `docker:index/container:Container`, bridged upstream from Terraform's docker_container:
// Create is `docker create` + networks + uploads (`docker cp`) + `docker start`, then a Read;
// Read is a real `docker inspect` (a container removed by hand is gone from state, a stopped
// one reads mustRun false); Update starts a stopped container and changes the restart policy;
// Delete stops and removes it. Upstream's bridge deletes before it replaces.
import { readFile } from "node:fs/promises";
import { DockerCliError, isNoSuchObject, type DockerRun } from "../docker-cli.ts";
import { notSupported, type CheckFailure, type ResourceKind } from "../resource-kind.ts";
import { withAutoName } from "../rules/auto-name.ts";
import { diffFields, effectiveValue, plannedOutputs } from "../rules/field-rules.ts";
import { checkInputs, checkPattern } from "../rules/input-check.ts";
import { isObject, UNKNOWN, type Props } from "../wire.ts";
import { connectArgs, createArgs } from "./create-args.ts";
import { containerOutputs } from "./read-back.ts";
import { CONTAINER_RULES } from "./rules.ts";
import { uploadMode, uploadTar } from "./upload-tar.ts";

const COMPUTED_OUTPUTS = ["networkDatas", "bridge", "exitCode", "entrypoints", "init", "logDriver"] as const;

function objects(value: unknown): Props[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** Upstream's validators for the inputs the stand-in takes. */
function validate(news: Props): CheckFailure[] {
  const failures = [
    ...checkInputs(news, CONTAINER_RULES, ["image"]),
    ...checkPattern(
      "restart",
      news.restart,
      /^(no|on-failure|always|unless-stopped)$/,
      "must be one of no, on-failure, always, unless-stopped",
    ),
  ];
  objects(news.mounts).forEach((m, i) => {
    failures.push(
      ...checkPattern(`mounts[${i}].type`, m.type, /^(bind|volume|tmpfs)$/, "must be bind, volume or tmpfs"),
    );
    const propagation = isObject(m.bindOptions) ? m.bindOptions.propagation : undefined;
    failures.push(
      ...checkPattern(
        `mounts[${i}].bindOptions.propagation`,
        propagation,
        /^(private|rprivate|shared|rshared|slave|rslave)$/,
        "not a propagation mode",
      ),
    );
  });
  objects(news.uploads).forEach((u, i) => {
    failures.push(
      ...checkPattern(`uploads[${i}].permissions`, u.permissions, /^0[0-7]{3}$/, "must be an octal mode like 0644"),
    );
  });
  objects(news.volumes).forEach((v, i) => {
    failures.push(...checkPattern(`volumes[${i}].hostPath`, v.hostPath, /^\//, "must be an absolute path"));
  });
  (Array.isArray(news.envs) ? news.envs : []).forEach((env, i) => {
    // `docker create --env NAME` would copy NAME from the stand-in's own environment.
    if (typeof env === "string" && !env.includes("="))
      failures.push({ property: `envs[${i}]`, reason: notSupported(`an env without "=" (${JSON.stringify(env)})`) });
  });
  return failures;
}

/** The inputs as upstream's Create sees them: Defaults applied. */
function effectiveInputs(news: Props): Props {
  const out: Props = { ...news };
  for (const [key, rule] of Object.entries(CONTAINER_RULES)) out[key] = effectiveValue(rule, {}, news, key) ?? null;
  return out;
}

/** The bytes of an upload: content, contentBase64 or the source file; exactly one. */
async function uploadContent(upload: Props): Promise<Buffer> {
  const given = (["content", "contentBase64", "source"] as const).filter(
    (k) => typeof upload[k] === "string" && upload[k] !== "",
  );
  if (given.length !== 1) {
    throw new Error(
      `error with upload content: ${given.length === 0 ? "one of 'content', 'content_base64', or 'source' must be set" : "only one of 'content', 'content_base64', or 'source' can be set"}`,
    );
  }
  if (given[0] === "content") return Buffer.from(String(upload.content), "utf8");
  if (given[0] === "contentBase64") return Buffer.from(String(upload.contentBase64), "base64");
  return readFile(String(upload.source));
}

async function inspectContainer(docker: DockerRun, id: string): Promise<Props | undefined> {
  try {
    const [found] = JSON.parse(await docker(["container", "inspect", id])) as Props[];
    return found;
  } catch (err) {
    if (isNoSuchObject(err)) return undefined;
    throw err;
  }
}

async function ignoringGone(run: Promise<unknown>, alsoFine: RegExp = /$^/): Promise<void> {
  await run.catch((err: unknown) => {
    if (isNoSuchObject(err) || (err instanceof DockerCliError && alsoFine.test(err.stderr))) return;
    throw err;
  });
}

/** Everything after `docker create`, as upstream does it; the caller removes the container on failure. */
async function setUp(docker: DockerRun, id: string, inputs: Props): Promise<void> {
  if (objects(inputs.networksAdvanced).length > 0) {
    await ignoringGone(docker(["network", "disconnect", "bridge", id]), /is not connected to the network bridge/);
    for (const args of connectArgs(inputs, id)) await docker(args);
  }
  for (const upload of objects(inputs.uploads)) {
    const tar = uploadTar(
      String(upload.file),
      await uploadContent(upload),
      uploadMode(upload.permissions, upload.executable),
    );
    await docker(["cp", "-", `${id}:/`], { input: tar });
  }
  if (inputs.start !== false) await docker(["start", id]);
}

export function containerKind(docker: DockerRun): ResourceKind {
  async function read(id: string, prior: Props): Promise<Props | undefined> {
    const found = await inspectContainer(docker, id);
    return found === undefined ? undefined : containerOutputs(found, prior);
  }
  return {
    check(olds, news, context) {
      const failures = validate(news);
      return { inputs: failures.length > 0 ? news : withAutoName(olds, news, context), failures };
    },
    diff(olds, news) {
      const { changes, replaces } = diffFields(CONTAINER_RULES, olds, news);
      // Upstream's bridge sets DeleteBeforeReplace for docker_container.
      return { changes, replaces, deleteBeforeReplace: replaces.length > 0 };
    },
    async create(news, preview) {
      const inputs = effectiveInputs(news);
      if (preview) {
        const outputs: Props = { ...inputs };
        for (const key of COMPUTED_OUTPUTS) outputs[key] = UNKNOWN;
        return { id: "", outputs };
      }
      if ((Array.isArray(inputs.command) ? inputs.command : []).some((c) => c === ""))
        throw new Error("values for command may not be empty");
      const id = (await docker(createArgs(inputs))).trim();
      try {
        await setUp(docker, id, inputs);
        const outputs = await read(id, inputs);
        if (outputs === undefined)
          throw new Error(
            `container ${String(inputs.name)} (${id}) is gone right after it was created (rm: true and it exited?)`,
          );
        return { id, outputs };
      } catch (err) {
        // Upstream would keep it in the state as failed; the stand-in leaves nothing behind.
        await docker(["rm", "-f", "-v", id]).catch(() => undefined);
        throw err;
      }
    },
    read: (id, olds) => read(id, olds),
    async update(id, olds, news, preview) {
      const planned = plannedOutputs(CONTAINER_RULES, olds, news);
      if (preview) return planned;
      if (olds.mustRun === false && planned.mustRun === true && planned.start !== false) await docker(["start", id]);
      const [restart, retries] = [String(planned.restart), Number(planned.maxRetryCount ?? 0)];
      if (restart !== olds.restart || retries !== Number(olds.maxRetryCount ?? 0)) {
        const max = restart === "on-failure" && retries > 0 ? `:${retries}` : "";
        await docker(["update", "--restart", `${restart}${max}`, id]);
      }
      // As upstream: no Read after an update; the next refresh reads what changed.
      return planned;
    },
    async delete(id, olds) {
      const grace = typeof olds.destroyGraceSeconds === "number" ? olds.destroyGraceSeconds : 0;
      await ignoringGone(docker(["stop", "--time", String(grace), id]));
      await ignoringGone(
        docker(["rm", "--force", ...(olds.removeVolumes === false ? [] : ["--volumes"]), id]),
        /is already in progress/,
      );
    },
  };
}
