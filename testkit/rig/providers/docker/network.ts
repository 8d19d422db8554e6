// `docker:index/network:Network`, bridged upstream from Terraform's docker_network
// (kreuzwerker/terraform-provider-docker resource_docker_network*.go): every input is
// ForceNew, so any change replaces; Read is `docker network inspect` (gone: the resource is
// gone) and sets what upstream's Read sets; Delete retries while containers still hold it.
import { isNoSuchObject, type DockerRun } from "./docker-cli.ts";
import type { ResourceKind } from "./resource-kind.ts";
import { namedByProgram, withAutoName } from "./rules/auto-name.ts";
import { diffFields, LABELS, type FieldRules } from "./rules/field-rules.ts";
import { checkInputs } from "./rules/input-check.ts";
import { isObject, UNKNOWN, type Props } from "./wire.ts";

export const NETWORK_RULES: FieldRules = {
  name: { shape: "string", forceNew: true },
  labels: LABELS,
  driver: { shape: "string", forceNew: true, computed: true },
  options: { shape: "stringMap", forceNew: true, computed: true },
  internal: { shape: "bool", forceNew: true, computed: true },
  attachable: { shape: "bool", forceNew: true },
  ipv6: { shape: "bool", forceNew: true },
  ipamDriver: { shape: "string", forceNew: true, default: "default" },
  ipamOptions: { shape: "stringMap", forceNew: true },
  ipamConfigs: {
    shape: "objectSet",
    forceNew: true,
    computed: true,
    fields: {
      subnet: { shape: "string" },
      ipRange: { shape: "string" },
      gateway: { shape: "string" },
      auxAddress: { shape: "stringMap" },
    },
  },
};

const REMOVE_TRIES = 15;
const REMOVE_WAIT_MS = 2_000;

function stringMap(value: unknown): Record<string, string> {
  return isObject(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)])) : {};
}

export function labelList(labels: unknown): Props[] {
  return Object.entries(stringMap(labels))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, value]) => ({ label, value }));
}

/** `docker network create` for the checked inputs (upstream's NetworkCreate options). */
export function networkCreateArgs(inputs: Props): string[] {
  const args = ["network", "create"];
  if (typeof inputs.driver === "string" && inputs.driver !== "") args.push("--driver", inputs.driver);
  for (const [k, v] of Object.entries(stringMap(inputs.options))) args.push("--opt", `${k}=${v}`);
  if (inputs.internal === true) args.push("--internal");
  if (inputs.attachable === true) args.push("--attachable");
  if (inputs.ipv6 === true) args.push("--ipv6");
  args.push("--ipam-driver", typeof inputs.ipamDriver === "string" ? inputs.ipamDriver : "default");
  for (const [k, v] of Object.entries(stringMap(inputs.ipamOptions))) args.push("--ipam-opt", `${k}=${v}`);
  for (const config of Array.isArray(inputs.ipamConfigs) ? inputs.ipamConfigs.filter(isObject) : []) {
    if (config.subnet) args.push("--subnet", String(config.subnet));
    if (config.ipRange) args.push("--ip-range", String(config.ipRange));
    if (config.gateway) args.push("--gateway", String(config.gateway));
    for (const [k, v] of Object.entries(stringMap(config.auxAddress))) args.push("--aux-address", `${k}=${v}`);
  }
  for (const label of Array.isArray(inputs.labels) ? inputs.labels.filter(isObject) : [])
    args.push("--label", `${String(label.label)}=${String(label.value ?? "")}`);
  args.push(String(inputs.name));
  return args;
}

/** The outputs upstream's Read sets, from `docker network inspect`'s JSON. */
export function networkOutputs(inspect: Props): Props {
  const ipam = isObject(inspect.IPAM) ? inspect.IPAM : {};
  const configs = Array.isArray(ipam.Config) ? ipam.Config.filter(isObject) : [];
  return {
    name: inspect.Name,
    labels: labelList(inspect.Labels),
    driver: inspect.Driver,
    internal: inspect.Internal === true,
    attachable: inspect.Attachable === true,
    ingress: inspect.Ingress === true,
    ipv6: inspect.EnableIPv6 === true,
    ipamDriver: ipam.Driver ?? "",
    ipamOptions: stringMap(ipam.Options),
    options: stringMap(inspect.Options),
    ipamConfigs: configs.map((c) => ({
      subnet: c.Subnet ?? "",
      ipRange: c.IPRange ?? "",
      gateway: c.Gateway ?? "",
      auxAddress: stringMap(c.AuxiliaryAddresses),
    })),
    scope: inspect.Scope,
  };
}

async function inspectNetwork(docker: DockerRun, id: string): Promise<Props | undefined> {
  try {
    const [found] = JSON.parse(await docker(["network", "inspect", id])) as Props[];
    return found;
  } catch (err) {
    if (isNoSuchObject(err)) return undefined;
    throw err;
  }
}

export function networkKind(docker: DockerRun): ResourceKind {
  return {
    check(olds, news, context) {
      const failures = checkInputs(news, NETWORK_RULES);
      return { inputs: failures.length > 0 ? news : withAutoName(olds, news, context), failures };
    },
    diff(olds, news) {
      const { changes, replaces } = diffFields(NETWORK_RULES, olds, news);
      return { changes, replaces, deleteBeforeReplace: replaces.length > 0 && namedByProgram(news) };
    },
    async create(news, preview) {
      if (preview) {
        const outputs: Props = { ...news, scope: UNKNOWN };
        for (const [key, rule] of Object.entries(NETWORK_RULES))
          outputs[key] ??= rule.default ?? (rule.computed ? UNKNOWN : undefined);
        return { id: "", outputs };
      }
      const id = (await docker(networkCreateArgs(news))).trim();
      const found = await inspectNetwork(docker, id);
      if (found === undefined)
        throw new Error(`network ${String(news.name)} (${id}) vanished right after docker network create`);
      return { id, outputs: networkOutputs(found) };
    },
    async read(id) {
      const found = await inspectNetwork(docker, id);
      return found === undefined ? undefined : networkOutputs(found);
    },
    update() {
      return Promise.reject(
        new Error("a Network has no update: every input of upstream's is ForceNew (a replacement)"),
      );
    },
    async delete(id) {
      for (let attempt = 1; ; attempt += 1) {
        if ((await inspectNetwork(docker, id)) === undefined) return;
        try {
          await docker(["network", "rm", id]);
          return;
        } catch (err) {
          // Upstream waits while containers are still being taken off it.
          if (attempt >= REMOVE_TRIES || !(err instanceof Error && /has active endpoints/.test(err.message))) throw err;
          await new Promise((resolve) => setTimeout(resolve, REMOVE_WAIT_MS));
        }
      }
    },
  };
}
