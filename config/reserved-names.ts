// Names no user may take: one table, read by the users list, the web form and the inbound
// daemon's routing. A role address belongs to whoever runs the system, never to a user who
// got there first (RFC 2142 names the roles every mail domain answers for).

/** What the inbound daemon does with mail to a reserved local part of a served domain. */
export type ReservedRoute =
  /** Delivered to the admin mailbox (RFC 2142 roles, and root as Debian's aliases do). */
  | "admin"
  /** Refused: an address that sends but never reads (replies to it would go nowhere). */
  | "refuse";

/** Reserved local parts (lowercase) and where their mail goes. */
export const RESERVED_LOCAL_PARTS: ReadonlyMap<string, ReservedRoute> = new Map<string, ReservedRoute>([
  ["postmaster", "admin"],
  ["abuse", "admin"],
  ["hostmaster", "admin"],
  ["webmaster", "admin"],
  ["security", "admin"],
  ["noc", "admin"],
  ["root", "admin"],
  ["mailer-daemon", "refuse"],
  ["noreply", "refuse"],
  ["no-reply", "refuse"],
  ["donotreply", "refuse"],
  ["do-not-reply", "refuse"],
  ["nobody", "refuse"],
  ["daemon", "refuse"],
]);

/** Subdomain labels of the managed domain kept for the system's own hosts and the roles above. */
export const RESERVED_LABELS: ReadonlySet<string> = new Set([
  "mx",
  "mail",
  "smtp",
  "imap",
  "pop",
  "pop3",
  "ns",
  "ns1",
  "ns2",
  "www",
  "web",
  "webmail",
  "autoconfig",
  "autodiscover",
  "mta-sts",
  "admin",
  "localhost",
  ...RESERVED_LOCAL_PARTS.keys(),
]);

/** Lowercases A-Z only: Unicode case mapping would fold e.g. the Kelvin sign into "k". */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** Where mail to `localPart` goes when it is reserved (any ASCII case), else undefined. */
export function reservedRoute(localPart: string): ReservedRoute | undefined {
  return RESERVED_LOCAL_PARTS.get(asciiLower(localPart));
}
