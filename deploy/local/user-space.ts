// The users' own space in local mode, brought up before the daemons: a Docker engine, the
// images, the internal users' network with its firewall, the shared mail root, the jump
// container on a loopback port and the users' apt proxy. Without Docker (or root) local mode carries on without it,
// and says why once.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Settings } from "../../config/settings.ts";
import { APT_PROXY_PORT } from "../../config/stack/apt-proxy.ts";
import { parseNetwork } from "../../lib/ip-networks.ts";
import { parseListenSpec } from "../../lib/listen-spec.ts";
import { createLocalContainers, jumpName, shareMailRoot, type LocalContainers } from "./containers.ts";
import { localInstanceId, onPath, openDocker, type Docker } from "./docker-engine.ts";
import { ensureLocalImages } from "./images.ts";
import { canBind, freeLoopbackPort } from "./ports.ts";
import { firewallProblem, installUsersFirewall } from "./users-firewall.ts";
import { ensureUsersNetwork, type UsersNetwork } from "./users-network.ts";
import type { Logger } from "pino";

/** The jump sshd's loopback port unless taken (then a free one, kept for later starts). */
export const DEFAULT_JUMP_PORT = 2222;

export interface UserSpace {
  readonly docker: Docker;
  readonly network: UsersNetwork;
  readonly containers: LocalContainers;
  readonly jumpPort: number;
  /** The settings with outbound also listening on the users' bridge, which may AUTH without TLS. */
  readonly settings: Settings;
}

export interface UserSpaceOptions {
  readonly dataDir: string;
  readonly settings: Settings;
  readonly freePorts: boolean;
  readonly logger: Logger;
  /** A line on the terminal. */
  readonly say: (line: string) => void;
  /** Aborted by a Ctrl-C while starting (the first image build takes minutes). */
  readonly signal?: AbortSignal;
  /** Registers something to undo at stop (RunningParts.add); the containers' own stop is the caller's, after the mailbox filesystems'. */
  readonly onStop: (name: string, stop: () => Promise<void>) => void;
}

/** Outbound as production runs it for the containers: listening on the users' network, which is trusted for AUTH without TLS. */
export function settingsWithUsersNetwork(
  settings: Settings,
  network: Pick<UsersNetwork, "gateway" | "subnet">,
): Settings {
  const port = settings.outbound.listen[0]!.port;
  // The users' network as the schema would have parsed it from the settings file.
  const subnet = parseNetwork(network.subnet);
  if (subnet === undefined) throw new Error(`the users' network ${network.subnet} is not ADDR/PREFIX`);
  return {
    ...settings,
    outbound: {
      ...settings.outbound,
      listen: [...settings.outbound.listen, parseListenSpec(`${network.gateway}:${port}`)],
      containerNetworks: [...settings.outbound.containerNetworks, subnet],
      trustedNetworks: [...settings.outbound.trustedNetworks, subnet],
    },
  };
}

async function pickJumpPort(file: string, free: boolean): Promise<number> {
  const kept = Number((await readFile(file, "utf8").catch(() => "")).trim());
  for (const port of free ? [] : [kept, DEFAULT_JUMP_PORT]) {
    if (Number.isInteger(port) && port > 0 && port < 65536 && (await canBind(port, "127.0.0.1"))) return port;
  }
  return freeLoopbackPort();
}

/** Brings the users' space up, or answers why local mode runs without it. */
export async function startUserSpace(o: UserSpaceOptions): Promise<UserSpace | { readonly reason: string }> {
  if (!(await onPath("docker")))
    return { reason: "Docker is not installed (apt-get install docker.io, or npm run setup)" };
  const problem = await firewallProblem();
  if (problem) return { reason: problem };
  const docker = await openDocker(o.dataDir, o.say);
  if ("reason" in docker) return docker;
  if (docker.own) o.onStop(`local mode's own Docker engine (dockerd on ${docker.host})`, () => docker.stop());
  else o.say(`Docker: using the engine at ${docker.host}`);

  const id = localInstanceId(o.dataDir);
  const images = await ensureLocalImages(docker, o.say, o.signal);
  if (o.signal?.aborted) throw new Error("interrupted while starting");
  const network = await ensureUsersNetwork(docker, id);
  const settings = settingsWithUsersNetwork(o.settings, network);
  const submissionPort = o.settings.outbound.listen[0]!.port;
  const removeFirewall = await installUsersFirewall({
    id,
    bridge: network.bridge,
    gateway: network.gateway,
    submissionPort,
    jumpIp: network.jumpIp,
    apt: { ip: network.aptIp, port: APT_PROXY_PORT, bridge: network.aptBridge, subnet: network.aptSubnet },
  });
  o.onStop(`the users' network firewall (iptables rules on ${network.bridge})`, removeFirewall);
  const unshare = await shareMailRoot(settings.inbound.mailRoot);
  o.onStop(`the shared bind mount of ${settings.inbound.mailRoot}`, unshare);

  // The old jump container goes first: its published port is the one to take again.
  await docker.run(["rm", "-f", jumpName(id)]).catch(() => undefined);
  const dir = join(o.dataDir, "containers");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const portFile = join(dir, ".jump-port");
  const jumpPort = await pickJumpPort(portFile, o.freePorts);
  await writeFile(portFile, `${jumpPort}\n`);
  const containers = createLocalContainers({
    docker,
    id,
    dir,
    mailRoot: settings.inbound.mailRoot,
    images,
    network,
    submission: `${network.gateway}:${submissionPort}`,
    aptProxy: `http://${network.aptIp}:${APT_PROXY_PORT}`,
    jumpPort,
    logger: o.logger,
  });
  await containers.startJump();
  await containers.startAptProxy();
  return { docker, network, containers, jumpPort, settings };
}
