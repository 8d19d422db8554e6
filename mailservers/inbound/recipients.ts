// Who a recipient address is, for the inbound daemon. Pure: the users list and the
// settings in, a mailbox (or a refusal) out; tested without sockets.
//
// - An address of a live mailbox in the users list is that mailbox (ASCII case folded in
//   both parts). A mailbox whose domain is not proven yet is not served at all.
// - The reserved role names (config/reserved-names.ts: postmaster@, abuse@, hostmaster@...)
//   of every served domain (the managed domain and each live domain in the list), in any
//   case, and a bare <postmaster> (RFC 5321 4.5.1), go to the admin mailbox; the ones that
//   never read mail (noreply@, mailer-daemon@...) get 550 5.1.1.
// - Any other address of a served domain: 550 5.1.1. Any other domain: 550 5.7.1, we never relay.
import { asciiLower, reservedRoute } from "../../config/reserved-names.ts";
import type { UsersList } from "../../config/users-list.ts";
import { permFail, type SmtpError } from "../core/types.ts";

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
}

export interface RecipientContext {
  readonly users: UsersList;
  readonly managedDomain: string;
  readonly admin: AdminMailbox;
}

/** Resolves an envelope recipient, or returns the SmtpError to answer. */
export function resolveRecipient(address: string, context: RecipientContext): ResolvedRecipient | SmtpError {
  const at = address.lastIndexOf("@");
  const local = at === -1 ? address : address.slice(0, at);
  const domain = at === -1 ? "" : address.slice(at + 1).toLowerCase().replace(/\.$/, "");
  const served = domain === context.managedDomain || context.users.hasDomain(domain);
  if (domain === "" && asciiLower(local) === "postmaster") {
    return { owner: context.admin.owner, quota: context.admin.quota, address: `postmaster@${context.managedDomain}`, role: "postmaster" };
  }
  if (!served) return permFail(550, "5.7.1", `Relaying denied: this server does not accept mail for ${domain ? `@${domain}` : "that address"}`);
  const role = asciiLower(local);
  const route = reservedRoute(role);
  if (route === "admin") return { owner: context.admin.owner, quota: context.admin.quota, address: `${role}@${domain}`, role };
  if (route === "refuse") return permFail(550, "5.1.1", `<${role}@${domain}> is a role address that receives no mail`);
  const mailbox = context.users.byAddress(`${local}@${domain}`);
  if (!mailbox) return permFail(550, "5.1.1", "No such mailbox here");
  return { owner: mailbox.owner, quota: mailbox.size, address: mailbox.address };
}

/** The admin mailbox's owner when `inbound.adminOwner` is unset; the daemon creates its root. */
export const DEFAULT_ADMIN_OWNER = "postmaster";

/** The admin mailbox from the settings: the configured owner (quota from the list if listed), else "postmaster". */
export function adminMailbox(users: UsersList, adminOwner: string | undefined, defaultSize: number): AdminMailbox {
  const owner = adminOwner ?? DEFAULT_ADMIN_OWNER;
  return { owner, quota: users.byOwner(owner)?.size ?? defaultSize };
}
