// The other SEMail hosts as clients, known by their addresses (settings hosts.<name>.ip, ip6).
// What they hand on was checked where its sender connected, so arrival checks leave it alone
// (auth/settings.ts), and only their hand-on marker is acted on (hand-on.ts).
import type { Settings } from "../../config/settings.ts";
import { inNetworks, networkBlockList, parseNetwork, type IpNetwork } from "../../lib/ip-networks.ts";

type Hosts = Pick<Settings, "hosts" | "hostName">;

/** Each other host's addresses as networks, by its name. */
function addressesOf(settings: Hosts): { name: string; networks: IpNetwork[] }[] {
  return Object.entries(settings.hosts)
    .filter(([name]) => name !== settings.hostName)
    .map(([name, host]) => ({
      name,
      networks: [host.ip, host.ip6].flatMap((address) => {
        const network = address === undefined ? undefined : parseNetwork(address);
        return network ? [network] : [];
      }),
    }));
}

/** The other hosts' addresses, as networks. */
export function peerNetworks(settings: Hosts): IpNetwork[] {
  return addressesOf(settings).flatMap((host) => host.networks);
}

export interface PeerHosts {
  /** The other host at a client address; undefined: not one of them. */
  at(address: string): string | undefined;
  /** The other hosts with neither ip nor ip6: their connections cannot be told from anyone's. */
  readonly unaddressed: ReadonlySet<string>;
}

export function peerHosts(settings: Hosts): PeerHosts {
  const hosts = addressesOf(settings);
  const lists = hosts.map((host) => ({ name: host.name, list: networkBlockList(host.networks) }));
  return {
    at: (address) => lists.find((host) => inNetworks(address, host.list))?.name,
    unaddressed: new Set(hosts.filter((host) => host.networks.length === 0).map((host) => host.name)),
  };
}
