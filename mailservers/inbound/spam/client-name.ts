// The client's forward-confirmed name (its PTR, whose A or AAAA gives the address back), which
// Rspamd takes as `Hostname`: without one every message scores HFILTER_HOSTNAME_UNKNOWN, as
// from a host with no reverse DNS. The front end does no reverse lookup itself, so it is done
// here, through inbound.resolver (the system's when unset), bounded; no answer in time is no name.
// Loopback clients are not looked up.
import { Resolver } from "node:dns/promises";
import { isIPv4 } from "node:net";

export type ClientName = (ip: string) => Promise<string | undefined>;

export function createClientName(options: { readonly server?: string; readonly timeoutMs: number }): ClientName {
  return async (ip) => {
    // This host itself (local mode, tests): no name to learn, and nothing to ask a resolver.
    if (/^(127\.|::1$|::ffff:127\.)/i.test(ip)) return undefined;
    const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
    if (options.server !== undefined) resolver.setServers([options.server]);
    const timer = setTimeout(() => resolver.cancel(), options.timeoutMs);
    try {
      for (const name of (await resolver.reverse(ip)).slice(0, 3)) {
        const addresses = isIPv4(ip) ? await resolver.resolve4(name) : await resolver.resolve6(name);
        if (addresses.some((a) => a.toLowerCase() === ip.toLowerCase())) return name.replace(/\.$/, "").toLowerCase();
      }
      return undefined;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
}
