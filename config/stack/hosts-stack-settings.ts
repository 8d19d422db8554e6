// The stack's settings of several SEMail hosts sharing one users list: which host this stack
// builds (semail:hostName) and the others (semail:hosts, JSON), checked by the same schema as
// the daemons' `hostName` and `hosts` (config/sections/common.ts), so the errors agree.
import * as z from "zod/mini";
import { commonSettings } from "../sections/common.ts";
import { MAIN_HOST } from "../mailbox-host.ts";
import { hostAddressProblems } from "./mx-hosts.ts";

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const HOSTS_SETTINGS = {
  hostName: [
    MAIN_HOST,
    "This host's name among the SEMail hosts sharing the users list: it makes the mailboxes whose entry says host: <this name> (main: those with no host), and only the main host publishes the zone.",
  ],
  hosts: [
    "{}",
    'The SEMail hosts sharing the users list, as JSON: {"b": {"smtp": "mx.b.example.net:25", "mx": "mx-b.semail.email", "ip": "192.0.2.26", "mailRoot": "/var/mail/semail", "ssh": "root@mx-b.semail.email"}}; the same on every host\'s stack (a host may name itself: on a host other than main it must, for its own MX name).',
  ],
} as const;

export interface HostsStackSettings {
  /** This stack's host (MAIN_HOST by default). */
  readonly hostName: string;
  /** The SEMail hosts by name, as the daemons' `hosts` setting takes them. */
  readonly hosts: Readonly<z.output<typeof commonSettings.hosts>>;
}

const schema = z.object({ hostName: commonSettings.hostName, hosts: commonSettings.hosts });

const set = (key: string, example: string) => `(pulumi config set ${key} ${example})`;

/** Parses the raw values (trimmed; the default where unset); every problem names its setting and key. */
export function parseHostsStackSettings(
  raw: Readonly<Record<keyof typeof HOSTS_SETTINGS, string>>,
  managedDomain: string,
): { readonly settings: HostsStackSettings; readonly problems: string[] } {
  const problems: string[] = [];
  let hosts: unknown = {};
  try {
    hosts = JSON.parse(raw.hosts);
  } catch (err) {
    problems.push(
      `semail:hosts is not JSON (${(err as Error).message}): write an object of hosts by name ${set("hosts", `'{"b": {"smtp": "mx-b.example.net:25", ...}}'`)}`,
    );
  }
  const result = schema.safeParse({ hostName: raw.hostName, hosts });
  if (!result.success) {
    for (const issue of result.error.issues)
      problems.push(`semail:${issue.path.map(String).join(".")}: ${issue.message}`);
    return { settings: { hostName: MAIN_HOST, hosts: {} }, problems };
  }
  const settings: HostsStackSettings = result.data;
  problems.push(...hostAddressProblems(settings.hosts, managedDomain, "semail:hosts"));
  if (settings.hostName !== MAIN_HOST && settings.hosts[settings.hostName] === undefined)
    problems.push(
      `semail:hosts names no ${JSON.stringify(settings.hostName)} (semail:hostName): on a host other than ${MAIN_HOST}, semail:hosts.${settings.hostName}.mx is this host's own MX name`,
    );
  return { settings, problems };
}
