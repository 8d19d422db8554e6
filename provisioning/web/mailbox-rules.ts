// What a user or an administrator may change in the users list, as pure functions from
// the current list to the new entries. A Refusal carries the message the form shows.
import { formatSize, parseSize } from "../../config/size.ts";
import { domainKind, domainProblem, localPartProblem, type UsersList, type UsersListOptions } from "../../config/users-list.ts";
import { toRaw, type RawMailbox } from "./mailbox-store.ts";
import { Refusal } from "./refusal.ts";

/** Subdomain labels kept for the system's own hosts and well-known names. */
export const RESERVED_LABELS = new Set([
  "mx", "mail", "smtp", "imap", "pop", "pop3", "ns", "ns1", "ns2", "www", "web", "webmail",
  "autoconfig", "autodiscover", "admin", "postmaster", "abuse", "hostmaster", "localhost",
]);
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface CreateRequest {
  readonly owner: string;
  /** The id before the @. */
  readonly localPart: string;
  /** A subdomain of the managed domain, or the user's own domain. */
  readonly kind: "subdomain" | "external";
  /** One label, e.g. "sow" for sow.<managed domain> (kind subdomain). */
  readonly subdomain?: string;
  /** e.g. "example.org" (kind external). */
  readonly externalDomain?: string;
}

/** The domain a create request asks for, validated, or a Refusal saying why not. */
export function requestedDomain(request: CreateRequest, options: UsersListOptions): string {
  if (request.kind === "subdomain") {
    const label = (request.subdomain ?? "").trim().toLowerCase();
    if (label === "") throw new Refusal(400, "Choose a subdomain.");
    if (!LABEL.test(label)) {
      throw new Refusal(400, `${JSON.stringify(label)} is not a valid subdomain: use one label of a-z, 0-9 and '-', starting and ending with a letter or digit (at most 63).`);
    }
    if (RESERVED_LABELS.has(label)) throw new Refusal(409, `The subdomain ${label}.${options.managedDomain} is reserved for the system; choose another.`);
    return `${label}.${options.managedDomain}`;
  }
  const domain = (request.externalDomain ?? "").trim().toLowerCase().replace(/\.$/, "");
  if (domain === "") throw new Refusal(400, "Enter your domain, e.g. example.org.");
  const problem = domainProblem(domain);
  if (problem) throw new Refusal(400, `${problem}.`);
  if (domainKind(domain, options.managedDomain) !== "external") {
    throw new Refusal(400, `${domain} belongs to ${options.managedDomain}: choose the subdomain option instead.`);
  }
  return domain;
}

/** The list with the new mailbox added; refuses a second mailbox, a bad id, a taken address or domain. */
export function planCreate(list: UsersList, request: CreateRequest, options: UsersListOptions): RawMailbox[] {
  const existing = list.byOwner(request.owner);
  if (existing) throw new Refusal(409, `You already have a mailbox (${existing.address}); each person has one.`);
  const localPart = request.localPart.trim();
  if (localPart === "") throw new Refusal(400, "Choose a mailbox id (the part before the @).");
  const idProblem = localPartProblem(localPart);
  if (idProblem) throw new Refusal(400, `${idProblem}.`);
  const domain = requestedDomain(request, options);
  const address = `${localPart}@${domain}`;
  if (list.byAddress(address)) throw new Refusal(409, `The address ${address} is already taken.`);
  // A domain belongs to one owner: another person's mail must never be routed into your mailbox.
  const holder = list.mailboxes.find((m) => m.domain === domain);
  if (holder && holder.owner !== request.owner) throw new Refusal(409, `The domain ${domain} is already used by another mailbox; choose another.`);
  return [...list.mailboxes.map(toRaw), { owner: request.owner, address }];
}

/** The list without `owner`'s mailbox. */
export function planDelete(list: UsersList, owner: string): RawMailbox[] {
  if (!list.byOwner(owner)) throw new Refusal(404, `There is no mailbox for ${owner} (it may have been deleted already).`);
  return list.mailboxes.filter((m) => m.owner !== owner).map(toRaw);
}

/** The list with `owner`'s mailbox at `sizeText` ("10GiB"); only administrators call this. */
export function planResize(list: UsersList, owner: string, sizeText: string, options: UsersListOptions): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, `There is no mailbox for ${owner}.`);
  const size = parseSize(sizeText.trim());
  if (size === undefined || sizeText.trim() === "") throw new Refusal(400, `${JSON.stringify(sizeText)} is not a size: write e.g. 5GiB or 512MiB.`);
  if (size < options.minSize) throw new Refusal(400, `${formatSize(size)} is below the minimum mailbox size ${formatSize(options.minSize)}.`);
  return list.mailboxes.map((m) => (m.owner === owner ? { ...toRaw(m), size } : toRaw(m)));
}
