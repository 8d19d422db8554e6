// The docker CLI commands for upstream's container create (resource_docker_container_funcs.go):
// `docker create` on the "bridge" network mode, then off the default bridge and onto each of
// networksAdvanced with its aliases and fixed address, as upstream's API calls do.
import { isObject, type Props } from "../wire.ts";

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function objects(value: unknown): Props[] {
  return list(value).filter(isObject);
}

function entries(value: unknown): [string, string][] {
  return isObject(value) ? Object.entries(value).map(([k, v]) => [k, String(v)]) : [];
}

/** A --mount field, quoted as the CLI's CSV reader wants when it holds a comma or quote. */
function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function mountArg(mount: Props): string {
  const fields = [`type=${String(mount.type)}`];
  if (mount.source) fields.push(`source=${String(mount.source)}`);
  fields.push(`target=${String(mount.target)}`);
  if (mount.readOnly === true) fields.push("readonly");
  const propagation = isObject(mount.bindOptions) ? mount.bindOptions.propagation : undefined;
  if (propagation) fields.push(`bind-propagation=${String(propagation)}`);
  return fields.map(csvField).join(",");
}

function volumeArg(volume: Props): string {
  const from = volume.hostPath || volume.volumeName;
  const ro = volume.readOnly === true ? ":ro" : "";
  return from ? `${String(from)}:${String(volume.containerPath)}${ro}` : String(volume.containerPath);
}

function portArg(port: Props): string {
  const ip = String(port.ip || "0.0.0.0");
  const host = ip.includes(":") ? `[${ip}]` : ip;
  const external = port.external ? String(port.external) : "";
  return `${host}:${external}:${String(port.internal)}/${String(port.protocol || "tcp")}`;
}

/** `docker create …` for the container's effective inputs (defaults applied). */
export function createArgs(inputs: Props): string[] {
  // Never pull: upstream would, but the test rig talks to no registry.
  const args = [
    "create",
    "--pull",
    "never",
    "--name",
    String(inputs.name),
    "--network",
    String(inputs.networkMode ?? "bridge"),
  ];
  if (inputs.hostname) args.push("--hostname", String(inputs.hostname));
  const restart = String(inputs.restart ?? "no");
  args.push(
    "--restart",
    restart === "on-failure" && inputs.maxRetryCount ? `${restart}:${String(inputs.maxRetryCount)}` : restart,
  );
  if (inputs.rm === true) args.push("--rm");
  for (const env of list(inputs.envs)) args.push("--env", String(env));
  for (const label of objects(inputs.labels))
    args.push("--label", `${String(label.label)}=${String(label.value ?? "")}`);
  const caps = isObject(inputs.capabilities) ? inputs.capabilities : {};
  for (const cap of list(caps.adds)) args.push("--cap-add", String(cap));
  for (const cap of list(caps.drops)) args.push("--cap-drop", String(cap));
  for (const [key, value] of entries(inputs.sysctls)) args.push("--sysctl", `${key}=${value}`);
  for (const limit of objects(inputs.ulimits))
    args.push("--ulimit", `${String(limit.name)}=${String(limit.soft)}:${String(limit.hard)}`);
  for (const mount of objects(inputs.mounts)) args.push("--mount", mountArg(mount));
  for (const volume of objects(inputs.volumes)) args.push("--volume", volumeArg(volume));
  for (const port of objects(inputs.ports)) args.push("--publish", portArg(port));
  args.push(String(inputs.image), ...list(inputs.command).map(String));
  return args;
}

/** `docker network connect …` for each of networksAdvanced. */
export function connectArgs(inputs: Props, id: string): string[][] {
  return objects(inputs.networksAdvanced).map((network) => {
    const args = ["network", "connect"];
    for (const alias of list(network.aliases)) args.push("--alias", String(alias));
    if (network.ipv4Address) args.push("--ip", String(network.ipv4Address));
    if (network.ipv6Address) args.push("--ip6", String(network.ipv6Address));
    return [...args, String(network.name), id];
  });
}
