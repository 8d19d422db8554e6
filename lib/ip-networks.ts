// Address classes over IP literals: loopback, and sets of networks from settings. Host
// names are a different question (isLoopbackHost), answered by their spelling alone.
import { BlockList, isIP } from "node:net";

/** "::ffff:192.0.2.1" → "192.0.2.1"; other addresses unchanged. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** An IP literal in 127.0.0.0/8 or ::1 (v4-mapped too). A name is never loopback here. */
export function isLoopback(address: string): boolean {
  return inNetworks(address, LOOPBACK);
}

/** A host as written in a setting: `localhost` or a loopback IP literal. */
export function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === "localhost" || isLoopback(host);
}

/** A network as a setting writes it ("10.88.0.0/16", "fd00::/64", or one address), parsed. */
export interface IpNetwork {
  readonly spec: string;
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

/** `entry` parsed, or undefined when it is not an address or ADDR/PREFIX. */
export function parseNetwork(entry: string): IpNetwork | undefined {
  const [address = "", prefixText, ...extra] = entry.split("/");
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || extra.length > 0 || !Number.isInteger(prefix) || prefix > max) return undefined;
  return { spec: entry, address, prefix, family: family === 4 ? "ipv4" : "ipv6" };
}

export const NETWORK_SHAPE = "an address or ADDR/PREFIX such as 10.88.0.0/16 or fd00::/64";

/** The networks (parsed by the settings schema) as one set to check addresses against. */
export function networkBlockList(networks: readonly IpNetwork[]): BlockList {
  const list = new BlockList();
  for (const n of networks) list.addSubnet(n.address, n.prefix, n.family);
  return list;
}

/** A set of networks from "10.88.0.0/16", "fd00::/64" or single addresses; the error names `setting`. */
export function networkSet(entries: readonly string[], setting: string): BlockList {
  return networkBlockList(
    entries.map((entry, i) => {
      const network = parseNetwork(entry);
      if (network === undefined) throw new Error(`${setting}[${i}]: ${JSON.stringify(entry)} is not ${NETWORK_SHAPE}`);
      return network;
    }),
  );
}

export function inNetworks(address: string, networks: BlockList): boolean {
  const a = plainAddress(address);
  const family = isIP(a);
  return family !== 0 && networks.check(a, family === 4 ? "ipv4" : "ipv6");
}
