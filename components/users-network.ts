// The Docker network of the users' containers and the outbound daemon. The services on it
// have fixed addresses at the bottom of the subnet and users' containers take theirs from
// the top half, so the VM's firewall (users-firewall.sh) can name exactly what a user's
// container may reach.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

/** The bridge's name on the VM, where the firewall hooks in. */
export const USERS_BRIDGE = "semail-users0";

export interface UsersNetworkPlan {
  /** The outbound daemon's address (the submission port users reach). */
  readonly outboundIp: string;
  /** The apt proxy's address. */
  readonly aptProxyIp: string;
  /** Where Docker picks users' containers' addresses: the upper half of the subnet. */
  readonly userRange: string;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** The fixed addresses and the users' range of `subnet` (an IPv4 CIDR from /16 to /28). */
export function usersNetworkPlan(subnet: string): UsersNetworkPlan {
  const [address, bitsText] = subnet.split("/");
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  const base = ipv4ToInt(address!) - (ipv4ToInt(address!) % size);
  return {
    outboundIp: intToIpv4(base + 2),
    aptProxyIp: intToIpv4(base + 3),
    userRange: `${intToIpv4(base + size / 2)}/${bits + 1}`,
  };
}

export interface UsersNetworkArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** IPv4 subnet, e.g. 172.30.0.0/24. */
  readonly subnet: string;
}

export class UsersNetwork extends pulumi.ComponentResource {
  readonly networkName: pulumi.Output<string>;
  readonly plan: UsersNetworkPlan;

  constructor(name: string, args: UsersNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:UsersNetwork", name, {}, opts);
    this.plan = usersNetworkPlan(args.subnet);
    // Internal: no way out to the internet; the VM's firewall narrows the rest.
    const network = new docker.Network(
      `${name}-net`,
      {
        name: "semail-users",
        driver: "bridge",
        internal: true,
        options: { "com.docker.network.bridge.name": USERS_BRIDGE },
        ipamConfigs: [{ subnet: args.subnet, ipRange: this.plan.userRange }],
      },
      { parent: this, provider: args.docker },
    );
    this.networkName = network.name;
    this.registerOutputs({ networkName: this.networkName });
  }
}
