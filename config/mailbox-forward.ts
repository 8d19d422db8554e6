// A mailbox's forward, as the users list gives it: `forward: {to: ADDRESS, keepCopy: BOOL}`.
// The target must be an address elsewhere: mail for another address of this server is an
// alias's job, and a forward there would skip that mailbox's own rules (its expiry, its
// forward) and could loop inside one daemon, where no header ever leaves to count hops.
import { domainProblem } from "./domain-name.ts";

export interface MailboxForward {
  /** The external address mail is sent on to (local part as written, domain lowercased). */
  readonly to: string;
  /** True: a copy is also stored in the mailbox as usual. */
  readonly keepCopy: boolean;
}

/** Dot-atom local part (RFC 5322), ASCII only: no quoted strings that could hide another "@". */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Why `address` cannot be a forward target, or undefined; the address is returned normalised. */
export function forwardTargetProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 1) return `${JSON.stringify(address)} must be local@domain`;
  const local = address.slice(0, at);
  if (local.length > 64 || !LOCAL_PART.test(local))
    return `${JSON.stringify(address)} has a local part that is not a plain dot-atom (a-z, 0-9, and . ! # $ % & ' * + / = ? ^ _ \` { | } ~ -)`;
  return domainProblem(address.slice(at + 1).toLowerCase());
}

/** The forward of an entry's `forward` value, or undefined with each problem pushed (named by `at`). */
export function forwardOf(value: unknown, at: string, problems: string[]): MailboxForward | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`${at} must be a mapping {to: ADDRESS, keepCopy: true|false}`);
    return undefined;
  }
  const before = problems.length;
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v))
    if (key !== "to" && key !== "keepCopy") problems.push(`${at} has unknown key ${JSON.stringify(key)}`);
  const to = typeof v.to === "string" ? v.to.trim() : undefined;
  if (to === undefined) problems.push(`${at}.to is required (the address elsewhere to forward to)`);
  else {
    const problem = forwardTargetProblem(to);
    if (problem) problems.push(`${at}.to ${problem}`);
  }
  if (v.keepCopy !== undefined && typeof v.keepCopy !== "boolean")
    problems.push(`${at}.keepCopy must be true or false`);
  if (problems.length > before || to === undefined) return undefined;
  const sign = to.lastIndexOf("@");
  return { to: `${to.slice(0, sign)}@${to.slice(sign + 1).toLowerCase()}`, keepCopy: v.keepCopy === true };
}

/** Whether `to` is on the managed domain, a subdomain of it, or the domain of any address in `addresses`. */
export function forwardTargetIsOurs(to: string, managedDomain: string, addresses: Iterable<string>): boolean {
  const domain = to.slice(to.lastIndexOf("@") + 1);
  if (domain === managedDomain || domain.endsWith(`.${managedDomain}`)) return true;
  for (const address of addresses) if (address.slice(address.lastIndexOf("@") + 1) === domain) return true;
  return false;
}
