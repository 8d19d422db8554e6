// Where the outbound daemon may listen, and which clients may AUTH without TLS. Pure
// functions over addresses, so the policy is tested without binding anything.
import { BlockList, isIP } from "node:net";

/** "::ffff:192.0.2.1" → "192.0.2.1"; other addresses unchanged. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

export function isLoopback(address: string): boolean {
  return address === "localhost" || inNetworks(address, LOOPBACK);
}

/** A set of networks from "10.88.0.0/16", "fd00::/64" or single addresses; the error names `setting`. */
export function networkSet(entries: readonly string[], setting: string): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const [address = "", prefixText] = entry.split("/");
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new Error(`${setting}[${i}]: ${JSON.stringify(entry)} is not an address or ADDR/PREFIX such as 10.88.0.0/16 or fd00::/64`);
    }
    list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  });
  return list;
}

export function inNetworks(address: string, networks: BlockList): boolean {
  const a = plainAddress(address);
  const family = isIP(a);
  return family !== 0 && networks.check(a, family === 4 ? "ipv4" : "ipv6");
}

const WILDCARDS = new Set(["*", "0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

/**
 * Why the daemon must not listen on `host`, or undefined when it may: loopback and the
 * container networks only, unless forced. Submission on a public address is an open
 * door for password guessing from the whole Internet.
 */
export function listenProblem(host: string, containerNetworks: BlockList, force: boolean): string | undefined {
  if (force) return undefined;
  const how = "list loopback or container-network addresses (outbound.containerNetworks), or set outbound.forcePublicListen (--force-public) to listen anyway";
  if (WILDCARDS.has(host)) return `${host} is a wildcard address: it listens on every interface, public ones included; ${how}`;
  if (isLoopback(host)) return undefined;
  if (isIP(plainAddress(host)) === 0) return `${host} is not an IP address; ${how}`;
  if (inNetworks(host, containerNetworks)) return undefined;
  return `${host} is neither loopback nor in outbound.containerNetworks, so it may be reachable from the Internet; ${how}`;
}

/** AUTH without TLS: only from loopback or a trusted network (the users' containers). */
export function plaintextAuthAllowed(remoteAddress: string, trustedNetworks: BlockList): boolean {
  return isLoopback(remoteAddress) || inNetworks(remoteAddress, trustedNetworks);
}
