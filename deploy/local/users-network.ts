// Local mode's users' network, as production's (components/users-network.ts): an internal
// Docker bridge for the users' containers, with a bridge name of our own so the firewall
// (users-firewall.ts) can name it. Beside it a plain bridge that only publishes the jump
// container's sshd on loopback (Docker publishes no port of an internal network), and the
// apt proxy's way out (production's services network).
import type { Docker } from "./docker-engine.ts";

export interface UsersNetwork {
  /** Docker's name of the internal users' network. */
  readonly name: string;
  /** Its Linux bridge, e.g. semail-u1a2b3c. */
  readonly bridge: string;
  /** IPv4 subnet, e.g. 10.216.1.0/24. */
  readonly subnet: string;
  /** The host's address on the bridge: the outbound daemon listens there too. */
  readonly gateway: string;
  /** The jump container's fixed address on it (the network's .2); users' containers get the upper half. */
  readonly jumpIp: string;
  /** The apt proxy's fixed address on it (.3). */
  readonly aptIp: string;
  /** Docker's name of the apt proxy's network with a way out, and its bridge and subnet. */
  readonly aptNetwork: string;
  readonly aptBridge: string;
  readonly aptSubnet: string;
  /** Docker's name of the network the jump container's port is published from. */
  readonly jumpNetwork: string;
}

const toInt = (ip: string) => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/** The addresses local mode uses in `subnet` (IPv4, prefix at most /29). */
export function addressPlan(subnet: string): { gateway: string; jumpIp: string; aptIp: string; ipRange: string } {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(subnet);
  const prefix = Number(match?.[2]);
  if (!match || prefix > 29 || prefix < 8)
    throw new Error(
      `the users' network has subnet ${JSON.stringify(subnet)}; local mode needs an IPv4 subnet of /8 to /29`,
    );
  const size = 2 ** (32 - prefix);
  const network = toInt(match[1]!) - (toInt(match[1]!) % size);
  return {
    gateway: toIp(network + 1),
    jumpIp: toIp(network + 2),
    aptIp: toIp(network + 3),
    ipRange: `${toIp(network + size / 2)}/${prefix + 1}`,
  };
}

interface Inspected {
  readonly Internal: boolean;
  readonly Options: Record<string, string> | null;
  readonly IPAM: {
    readonly Config: ReadonlyArray<{
      readonly Subnet?: string;
      readonly Gateway?: string;
      readonly IPRange?: string;
    }> | null;
  };
}

async function inspect(docker: Docker, name: string): Promise<Inspected | undefined> {
  const text = await docker.run(["network", "inspect", name]).catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as Inspected[])[0];
}

/**
 * The users' network and the jump's publishing network of instance `id`, made when missing
 * (or not as local mode makes them). Docker picks a free subnet first; the network is then
 * made again with that subnet named, so the jump container can have a fixed address.
 */
export async function ensureUsersNetwork(docker: Docker, id: string): Promise<UsersNetwork> {
  const name = `semail-${id}-users`;
  const bridge = `semail-u${id.slice(0, 6)}`;
  const label = ["--label", `semail.local=${id}`];
  let net = await inspect(docker, name);
  const ours = (n: Inspected | undefined) =>
    n?.Internal === true &&
    n.Options?.["com.docker.network.bridge.name"] === bridge &&
    n.IPAM.Config?.[0]?.IPRange !== undefined &&
    n.IPAM.Config[0].IPRange !== "";
  if (!ours(net)) {
    if (net) await docker.run(["network", "rm", name]);
    const options = ["--internal", "-o", `com.docker.network.bridge.name=${bridge}`, ...label];
    // Another network may take the subnet between the two creates: then ask again.
    for (let attempt = 1; ; attempt++) {
      await docker.run(["network", "create", ...options, name]);
      const subnet = (await inspect(docker, name))?.IPAM.Config?.[0]?.Subnet;
      await docker.run(["network", "rm", name]);
      if (!subnet) throw new Error(`Docker gave the network ${name} no IPv4 subnet`);
      const plan = addressPlan(subnet);
      const made = await docker
        .run([
          "network",
          "create",
          ...options,
          "--subnet",
          subnet,
          "--gateway",
          plan.gateway,
          "--ip-range",
          plan.ipRange,
          name,
        ])
        .then(
          () => undefined,
          (err: Error) => err,
        );
      if (made === undefined) break;
      if (attempt === 3) throw made;
    }
    net = await inspect(docker, name);
  }
  const subnet = net!.IPAM.Config![0]!.Subnet!;
  const plan = addressPlan(subnet);
  const jumpNetwork = `semail-${id}-jump`;
  if ((await inspect(docker, jumpNetwork)) === undefined) {
    // Not internal (Docker publishes ports only from such a network), yet no NAT to the outside.
    await docker.run([
      "network",
      "create",
      "-o",
      "com.docker.network.bridge.enable_ip_masquerade=false",
      "-o",
      `com.docker.network.bridge.name=semail-j${id.slice(0, 6)}`,
      ...label,
      jumpNetwork,
    ]);
  }
  const aptNetwork = `semail-${id}-apt`;
  const aptBridge = `semail-a${id.slice(0, 6)}`;
  if ((await inspect(docker, aptNetwork)) === undefined) {
    await docker.run(["network", "create", "-o", `com.docker.network.bridge.name=${aptBridge}`, ...label, aptNetwork]);
  }
  const aptSubnet = (await inspect(docker, aptNetwork))?.IPAM.Config?.[0]?.Subnet;
  if (!aptSubnet) throw new Error(`Docker gave the network ${aptNetwork} no IPv4 subnet`);
  return {
    name,
    bridge,
    subnet,
    gateway: net!.IPAM.Config![0]!.Gateway ?? plan.gateway,
    jumpIp: plan.jumpIp,
    jumpNetwork,
    aptIp: plan.aptIp,
    aptNetwork,
    aptBridge,
    aptSubnet,
  };
}
