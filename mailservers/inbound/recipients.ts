// Who a recipient address is, for the inbound daemon. Pure: the users list and the
// settings in, a mailbox (or a refusal) out; tested without sockets.
//
// - An address of a live mailbox in the users list is that mailbox (ASCII case folded in
//   both parts). A mailbox whose domain is not proven yet is not served at all.
// - The reserved role names (config/reserved-names.ts: postmaster@, abuse@, hostmaster@...)
//   of every served domain (the managed domain and each live domain in the list), in any
//   case, and a bare <postmaster> (RFC 5321 4.5.1), go to the admin mailbox; the ones that
//   never read mail (noreply@, mailer-daemon@...) get 550 5.1.1.
// - An alias of a mailbox, and a sub-address (`id+tag@domain`, config/subaddress.ts) of either,
//   reach that mailbox, the address as sent kept in its Delivered-To and pair folder; a role
//   with a tag is that role.
// - Any other address of a served domain: 550 5.1.1. So is any address of a domain that was
//   ours: a subdomain of the managed domain with no mailbox (left), or a domain whose last
//   mailbox was deleted a short while ago (FormerDomains): its sender learns that the user
//   is gone, not that we became a stranger. Any other domain: 550 5.7.1, we never relay.
// - A mailbox past its `expires` (config/mailbox-expiry.ts), by any of its addresses: 550 5.1.1.
//   Its mail stays where it is; only an administrator deleting the entry removes it.
// - A mailbox with a `forward` is resolved with it (forward/forwarder.ts sends it on).
// - A mailbox on another SEMail host (its entry's `host`) is resolved with that host's name
//   (hand-on.ts takes its mail there); one being moved (`moving`) gets 451 4.2.1 by every
//   address on every host, so no host stores its mail while its files are copied.
import { asciiLower, reservedRoute } from "../../config/reserved-names.ts";
import { splitSubaddress } from "../../config/subaddress.ts";
import type { UsersList } from "../../config/users-list.ts";
import type { MailboxForward } from "../../config/mailbox-forward.ts";
import { MAIN_HOST } from "../../config/mailbox-host.ts";
import { permFail, tempFail, type SmtpError } from "../core/types.ts";

/** Where postmaster@ and abuse@ mail goes. */
export interface AdminMailbox {
  readonly owner: string;
  readonly quota: number;
}

export interface ResolvedRecipient {
  /** Directory name under the mail root. */
  readonly owner: string;
  /** Quota in bytes. */
  readonly quota: number;
  /** The address as the list (or the role) spells it: Delivered-To and the folder name use it. */
  readonly address: string;
  /** The reserved role name this address is, when it is one. */
  readonly role?: string;
  /** The mailbox's forward, and its own address (which the forward's loop marker names). */
  readonly forward?: { readonly rule: MailboxForward; readonly mailbox: string };
  /** The other SEMail host that holds the mailbox (settings.hosts names it); absent: it is stored here. */
  readonly elsewhere?: string;
}

export interface RecipientContext {
  readonly users: UsersList;
  readonly managedDomain: string;
  readonly admin: AdminMailbox;
  /** Domains whose live mailboxes left the users list recently (FormerDomains). */
  readonly formerDomains?: { has(domain: string): boolean };
  /** Now (ms since the epoch), the daemon's clock, for mailboxes' expiry; absent: nothing expires. */
  readonly now?: number;
  /** This host's name among the SEMail hosts (settings.hostName); absent: MAIN_HOST. */
  readonly hostName?: string;
}

/** How long a domain whose last mailbox was deleted answers "no such user" rather than "not ours". */
export const FORMER_DOMAIN_MS = 30 * 24 * 3600_000;

/**
 * The domains that had a live mailbox in an earlier users list and have none now, each for
 * `keepMs` after it was first seen gone, so mail to a deleted mailbox on an external domain
 * (whose MX still points here) gets 550 5.1.1. Kept in memory: after a restart such a domain
 * is foreign again (550 5.7.1); the managed domain's subdomains need no memory.
 */
export class FormerDomains {
  readonly #keepMs: number;
  readonly #clock: () => number;
  readonly #goneAt = new Map<string, number>();
  #last: UsersList | undefined;

  constructor(options: { readonly keepMs?: number; readonly clock?: () => number } = {}) {
    this.#keepMs = options.keepMs ?? FORMER_DOMAIN_MS;
    this.#clock = options.clock ?? Date.now;
  }

  /** Takes in the list the daemon serves now; the same list again costs one comparison. */
  follow(users: UsersList): void {
    if (users === this.#last) return;
    const now = this.#clock();
    for (const m of this.#last?.mailboxes ?? [])
      if (!users.hasDomain(m.domain) && !this.#goneAt.has(m.domain)) this.#goneAt.set(m.domain, now);
    for (const [domain, at] of this.#goneAt)
      if (users.hasDomain(domain) || now - at > this.#keepMs) this.#goneAt.delete(domain);
    this.#last = users;
  }

  has(domain: string): boolean {
    const at = this.#goneAt.get(domain);
    return at !== undefined && this.#clock() - at <= this.#keepMs;
  }
}

/** A domain we do not serve now but did, or could: mail to it is for a user who is not (or no longer) here. */
function wasOurs(domain: string, context: RecipientContext): boolean {
  return domain.endsWith(`.${context.managedDomain}`) || context.formerDomains?.has(domain) === true;
}

/** Resolves an envelope recipient, or returns the SmtpError to answer. */
export function resolveRecipient(address: string, context: RecipientContext): ResolvedRecipient | SmtpError {
  const at = address.lastIndexOf("@");
  const local = at === -1 ? address : address.slice(0, at);
  const domain =
    at === -1
      ? ""
      : address
          .slice(at + 1)
          .toLowerCase()
          .replace(/\.$/, "");
  const served = domain === context.managedDomain || context.users.hasDomain(domain);
  if (domain === "" && asciiLower(local) === "postmaster") {
    return {
      owner: context.admin.owner,
      quota: context.admin.quota,
      address: `postmaster@${context.managedDomain}`,
      role: "postmaster",
    };
  }
  if (!served && wasOurs(domain, context)) return permFail(550, "5.1.1", "No such mailbox here");
  if (!served)
    return permFail(
      550,
      "5.7.1",
      `Relaying denied: this server does not accept mail for ${domain ? `@${domain}` : "that address"}`,
    );
  // A role keeps its meaning with a tag: postmaster+dmarc@ is the postmaster's.
  const sub = splitSubaddress(`${local}@${domain}`, context.users.subaddressSeparator);
  const role = asciiLower(sub ? sub.base.slice(0, sub.base.lastIndexOf("@")) : local);
  const route = reservedRoute(role);
  if (route === "admin")
    return { owner: context.admin.owner, quota: context.admin.quota, address: `${role}@${domain}`, role };
  if (route === "refuse") return permFail(550, "5.1.1", `<${role}@${domain}> is a role address that receives no mail`);
  const found = context.users.byDeliveryAddress(`${local}@${domain}`);
  if (!found) return permFail(550, "5.1.1", "No such mailbox here");
  const { mailbox, tag } = found;
  if (mailbox.expires && context.now !== undefined && mailbox.expires.at <= context.now)
    return permFail(550, "5.1.1", "This mailbox has expired and receives no more mail");
  // Nowhere while it moves: the sender retries, and by then it is on its new host.
  if (mailbox.moving !== undefined)
    return tempFail(451, "4.2.1", `<${address}>: mailbox is moving to another server; try again in a few minutes`);
  // An alias keeps its own name in Delivered-To and the pair folder, as a tag does.
  // The tag stays in the address Delivered-To and the pair folder are named from, so each tag sorts itself.
  return {
    owner: mailbox.owner,
    quota: mailbox.size,
    address: tag === undefined ? found.address : tagged(found.address, tag, context.users.subaddressSeparator),
    ...(mailbox.forward ? { forward: { rule: mailbox.forward, mailbox: mailbox.address } } : {}),
    ...(mailbox.host !== (context.hostName ?? MAIN_HOST) ? { elsewhere: mailbox.host } : {}),
  };
}

/** `id@domain` with `tag` put back: `id+tag@domain`. */
function tagged(address: string, tag: string, separator: string): string {
  const at = address.lastIndexOf("@");
  return `${address.slice(0, at)}${separator}${tag}${address.slice(at)}`;
}

/** The admin mailbox's owner when `inbound.adminOwner` is unset; the daemon creates its root. */
export const DEFAULT_ADMIN_OWNER = "postmaster";

/** The admin mailbox from the settings: the configured owner (quota from the list if listed), else "postmaster". */
export function adminMailbox(users: UsersList, adminOwner: string | undefined, defaultSize: number): AdminMailbox {
  const owner = adminOwner ?? DEFAULT_ADMIN_OWNER;
  return { owner, quota: users.byOwner(owner)?.size ?? defaultSize };
}
