// Where the outbound daemon may listen, and which clients may AUTH without TLS. Pure
// functions over addresses, so the policy is tested without binding anything.
import { isIP, type BlockList } from "node:net";
import { inNetworks, isLoopback, isLoopbackHost, plainAddress } from "../../lib/ip-networks.ts";

export { networkSet } from "../../lib/ip-networks.ts";

const WILDCARDS = new Set(["*", "0.0.0.0", "::", "0:0:0:0:0:0:0:0"]);

/**
 * Why the daemon must not listen on `host`, or undefined when it may: loopback and the
 * container networks only, unless forced. Submission on a public address is an open
 * door for password guessing from the whole Internet.
 */
export function listenProblem(host: string, containerNetworks: BlockList, force: boolean): string | undefined {
  if (force) return undefined;
  const how =
    "list loopback or container-network addresses (outbound.containerNetworks), or set outbound.forcePublicListen (--force-public) to listen anyway";
  if (WILDCARDS.has(host))
    return `${host} is a wildcard address: it listens on every interface, public ones included; ${how}`;
  if (isLoopbackHost(host)) return undefined;
  if (isIP(plainAddress(host)) === 0) return `${host} is not an IP address; ${how}`;
  if (inNetworks(host, containerNetworks)) return undefined;
  return `${host} is neither loopback nor in outbound.containerNetworks, so it may be reachable from the Internet; ${how}`;
}

/** AUTH without TLS: only from loopback or a trusted network (the users' containers). */
export function plaintextAuthAllowed(remoteAddress: string, trustedNetworks: BlockList): boolean {
  return isLoopback(remoteAddress) || inNetworks(remoteAddress, trustedNetworks);
}
