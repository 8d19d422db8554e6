// The stack's settings of the automatic bans (components/ban-watcher.ts, `semail bans run` on
// the VM): on or off, and the admins' networks that are never banned (the users' and the
// services' networks always are not).
import { isIP } from "node:net";

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const BAN_SETTINGS = {
  banEnabled: [
    "true",
    "Ban addresses that keep failing logins to SMTP, IMAP or the VM's SSH (semail bans run on the VM, iptables REJECT rules for a growing time); false runs no watcher.",
  ],
  banAllow: [
    "",
    "Networks never banned, comma-separated CIDRs or addresses: put the admins' own (the network you reach the VM's SSH from), so a mistyped password cannot lock you out; the users' and services' networks are never banned.",
  ],
} as const;

export interface BanStackSettings {
  readonly banEnabled: boolean;
  /** CIDRs, a bare address as /32 or /128. */
  readonly banAllow: readonly string[];
}

const set = (key: string, example: string) => `(pulumi config set ${key} ${example})`;

/** "a.b.c.d/n" or "x::y/n" (a bare address gets the whole-address prefix); undefined if neither. */
function cidr(given: string): string | undefined {
  const [address = "", bits, extra] = given.split("/");
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  if (bits === undefined) return `${address}/${max}`;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max ? `${address}/${Number(bits)}` : undefined;
}

/** Parses the raw values (trimmed; the default where unset); every problem names its setting. */
export function parseBanStackSettings(raw: Readonly<Record<keyof typeof BAN_SETTINGS, string>>): {
  readonly settings: BanStackSettings;
  readonly problems: string[];
} {
  const problems: string[] = [];
  if (raw.banEnabled !== "true" && raw.banEnabled !== "false")
    problems.push(
      `semail:banEnabled ${JSON.stringify(raw.banEnabled)} must be true or false ${set("banEnabled", "true")}`,
    );
  const banAllow: string[] = [];
  for (const given of raw.banAllow.split(/[\s,]+/).filter(Boolean)) {
    const network = cidr(given);
    if (network === undefined)
      problems.push(
        `semail:banAllow ${JSON.stringify(given)} is not an address or a CIDR such as 198.51.100.0/24 ${set("banAllow", "198.51.100.0/24,2001:db8:1::/48")}`,
      );
    else if (!banAllow.includes(network)) banAllow.push(network);
  }
  return { settings: { banEnabled: raw.banEnabled !== "false", banAllow }, problems };
}
