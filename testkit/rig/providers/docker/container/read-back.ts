// A container's outputs from `docker inspect`, as upstream's Read sets them (kreuzwerker
// v4.5.0 resourceDockerContainerRead): what it reads back replaces the prior state, what it
// does not read (envs, uploads, volumes, networksAdvanced, labels, start…) stays as the prior
// state has it. A stopped container with mustRun reads as mustRun false, which the program's
// true turns into an update that starts it.
import { isObject, type Props } from "../wire.ts";

function obj(value: unknown): Props {
  return isObject(value) ? value : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** The capability's name without the "CAP_" the docker CLI (not the API upstream calls) adds. */
function capName(cap: string): string {
  return cap.toUpperCase().replace(/^CAP_/, "");
}

/**
 * What was read, spelt as the prior state spells it when they name the same capabilities:
 * upstream creates through the API, which keeps "NET_RAW" as given; the CLI stores
 * "CAP_NET_RAW". Without this, every refresh would see a change upstream never sees.
 */
function capabilitiesAsPrior(read: Props, prior: unknown): Props {
  const before = obj(prior);
  const same = (a: unknown, b: unknown) =>
    JSON.stringify(strings(a).map(capName).sort()) === JSON.stringify(strings(b).map(capName).sort());
  return same(read.adds, before.adds) && same(read.drops, before.drops)
    ? { adds: strings(before.adds), drops: strings(before.drops) }
    : read;
}

/** Terraform's flattenContainerPorts: each binding, sorted by port and protocol. */
function readPorts(ports: unknown): Props[] {
  const keyed = Object.entries(obj(ports)).map(([key, bindings]) => {
    const [port, protocol] = key.split("/");
    return {
      port: Number(port),
      protocol: protocol ?? "tcp",
      bindings: Array.isArray(bindings) ? bindings.filter(isObject) : [],
    };
  });
  keyed.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  return keyed.flatMap(({ port, protocol, bindings }) =>
    bindings.map((b) => ({ internal: port, external: Number(b.HostPort), ip: String(b.HostIp ?? ""), protocol })),
  );
}

function readMounts(mounts: unknown): Props[] {
  return (Array.isArray(mounts) ? mounts.filter(isObject) : []).map((m) => {
    const out: Props = { target: m.Target, source: m.Source ?? "", type: m.Type, readOnly: m.ReadOnly === true };
    if (isObject(m.BindOptions)) out.bindOptions = { propagation: m.BindOptions.Propagation ?? "" };
    return out;
  });
}

function readNetworks(settings: Props): Props[] {
  return Object.entries(obj(settings.Networks)).map(([networkName, n]) => {
    const data = obj(n);
    return {
      networkName,
      ipAddress: data.IPAddress ?? "",
      ipPrefixLength: data.IPPrefixLen ?? 0,
      gateway: data.Gateway ?? "",
      globalIpv6Address: data.GlobalIPv6Address ?? "",
      globalIpv6PrefixLength: data.GlobalIPv6PrefixLen ?? 0,
      ipv6Gateway: data.IPv6Gateway ?? "",
      macAddress: data.MacAddress ?? "",
    };
  });
}

/** The outputs after reading `inspect` over `prior` (the saved state, or the inputs at create). */
export function containerOutputs(inspect: Props, prior: Props): Props {
  const config = obj(inspect.Config);
  const host = obj(inspect.HostConfig);
  const state = obj(inspect.State);
  const settings = obj(inspect.NetworkSettings);
  const running = state.Running === true;
  const out: Props = { ...prior };
  out.bridge = settings.Bridge ?? "";
  // Ports and mustRun are read as upstream reads them, from the prior mustRun.
  if ((running || prior.mustRun === true) && Array.isArray(prior.ports) && prior.ports.length > 0)
    out.ports = readPorts(settings.Ports);
  out.networkDatas = readNetworks(settings);
  if (!running) {
    out.exitCode = state.ExitCode ?? 0;
    if (prior.mustRun === true) out.mustRun = false;
  }
  out.name = String(inspect.Name ?? "").replace(/^\/+/, "");
  out.rm = host.AutoRemove === true;
  out.readOnly = host.ReadonlyRootfs === true;
  // An image given by ID is read back as the container's image ID, a name as the name.
  out.image = String(prior.image ?? "").startsWith("sha256:") ? inspect.Image : config.Image;
  out.hostname = config.Hostname ?? "";
  out.domainname = config.Domainname ?? "";
  out.command = strings(config.Cmd);
  out.entrypoints = strings(config.Entrypoint);
  out.user = config.User ?? "";
  out.restart = obj(host.RestartPolicy).Name ?? "";
  out.maxRetryCount = obj(host.RestartPolicy).MaximumRetryCount ?? 0;
  out.init = host.Init === true;
  out.workingDir = config.WorkingDir ?? "";
  const caps = { adds: strings(host.CapAdd), drops: strings(host.CapDrop) };
  if (caps.adds.length > 0 || caps.drops.length > 0) out.capabilities = capabilitiesAsPrior(caps, prior.capabilities);
  out.mounts = readMounts(host.Mounts);
  out.privileged = host.Privileged === true;
  out.publishAllPorts = host.PublishAllPorts === true;
  out.logDriver = obj(host.LogConfig).Type ?? "";
  out.networkMode = host.NetworkMode ?? "";
  out.sysctls = obj(host.Sysctls);
  out.ipcMode = host.IpcMode ?? "";
  out.tty = config.Tty === true;
  out.stdinOpen = config.OpenStdin === true;
  out.stopSignal = config.StopSignal ?? "";
  out.shmSize = Math.floor(Number(host.ShmSize ?? 0) / 1024 / 1024);
  return out;
}
