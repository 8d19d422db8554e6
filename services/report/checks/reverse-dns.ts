// Reverse DNS of the addresses outbound mail leaves from: receivers refuse or junk mail from
// an address without a PTR, or whose PTR names a host that does not lead back to it
// (forward-confirmed reverse DNS, FCrDNS); many also want the name to be the EHLO name.
// Asked of the report's resolver, so a test's named (or the world's DNS) answers.
import type { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { Settings } from "../../../config/settings.ts";
import { isLoopback, networkSet } from "../../../lib/ip-networks.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** Addresses no receiver sees as ours: private, shared, link-local (what NAT hides). */
const UNROUTED = networkSet(
  ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"],
  "unrouted networks",
);

/**
 * Where outbound mail leaves from, per the settings: report.outboundAddresses, else
 * outbound.delivery.localAddresses, else this machine's routed addresses (undefined when it has
 * none: behind NAT, the public address is not seen here); loopback never counts.
 */
export function outboundAddresses(settings: Settings): string[] | undefined {
  const set = settings.report.outboundAddresses ?? settings.outbound.delivery.localAddresses;
  const addresses =
    set ??
    Object.values(networkInterfaces())
      .flat()
      .filter(
        (i) => i !== undefined && !i.internal && !UNROUTED.check(i.address, i.family === "IPv4" ? "ipv4" : "ipv6"),
      )
      .map((i) => i!.address);
  if (set === undefined && addresses.length === 0) return undefined;
  return [...new Set(addresses.filter((a) => !isLoopback(a)))];
}

export async function reverseDnsFindings(settings: Settings, resolver: Resolver): Promise<Finding[]> {
  const relay = settings.outbound.delivery.relayHost;
  if (relay !== undefined)
    return [
      ok(
        "reverse-dns",
        "outbound addresses",
        `not applicable: mail leaves through ${relay.host}, whose PTR is its own`,
      ),
    ];
  const addresses = outboundAddresses(settings);
  if (addresses === undefined)
    return [
      warn(
        "reverse-dns",
        "outbound addresses",
        "this host has no routed address (behind NAT?), so where mail leaves from is not known here",
        "set report.outboundAddresses to the public addresses outbound mail leaves from",
      ),
    ];
  if (addresses.length === 0)
    return [ok("reverse-dns", "outbound addresses", "not applicable: sending from loopback only")];
  const ehlo = (settings.outbound.delivery.ehloName ?? settings.hostname).toLowerCase();
  return Promise.all(addresses.map((address) => confirm(address, ehlo, resolver)));
}

async function confirm(address: string, ehlo: string, resolver: Resolver): Promise<Finding> {
  const subject = `PTR of ${address}`;
  const setPtr = `ask whoever runs ${address} (the hosting provider) to set its PTR to ${ehlo}`;
  let names: string[];
  try {
    names = (await resolver.reverse(address)).map((n) => n.toLowerCase().replace(/\.$/, ""));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return fail("reverse-dns", subject, `no PTR (${why}): receivers refuse or junk its mail`, setPtr);
  }
  const confirmed: string[] = [];
  for (const name of names) if (await leadsBack(name, address, resolver)) confirmed.push(name);
  if (confirmed.length === 0)
    return fail(
      "reverse-dns",
      subject,
      `names ${names.join(", ") || "nothing"}, whose ${isIP(address) === 4 ? "A" : "AAAA"} records do not lead back to it`,
      `publish \`${names[0] ?? ehlo}. ${isIP(address) === 4 ? "A" : "AAAA"} ${address}\`, or ${setPtr}`,
    );
  if (!confirmed.includes(ehlo))
    return warn(
      "reverse-dns",
      subject,
      `names ${confirmed.join(", ")}, not the EHLO name ${ehlo}`,
      `${setPtr}, or set outbound.delivery.ehloName to ${confirmed[0]}`,
    );
  return ok("reverse-dns", subject, `${ehlo}, which leads back to it`);
}

/** `name`'s A (or AAAA) records include `address`; a failed lookup is "no". */
async function leadsBack(name: string, address: string, resolver: Resolver): Promise<boolean> {
  const v4 = isIP(address) === 4;
  const found = await (v4 ? resolver.resolve4(name) : resolver.resolve6(name)).catch(() => [] as string[]);
  return found.length > 0 && networkSet(found, name).check(address, v4 ? "ipv4" : "ipv6");
}
