// What a user or an administrator may change in the users list, as pure functions from
// the current list to the new entries. A Refusal carries the message the form shows.
import { asciiLower, RESERVED_LABELS, reservedRoute } from "../config/reserved-names.ts";
import { formatSize, parseSize } from "../config/size.ts";
import { normaliseSshKey, sshKeyFingerprint, sshKeyProblem } from "../config/ssh-key.ts";
import {
  domainKind,
  domainProblem,
  localPartProblem,
  MAX_SSH_KEYS,
  type UsersList,
  type UsersListOptions,
} from "../config/users-list.ts";
import { newProofToken } from "../config/proof-record.ts";
import { toRaw, type RawMailbox } from "./users-list-file.ts";
import { Refusal } from "./refusal.ts";

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
      throw new Refusal(
        400,
        `${JSON.stringify(label)} is not a valid subdomain: use one label of a-z, 0-9 and '-', starting and ending with a letter or digit (at most 63).`,
      );
    }
    if (RESERVED_LABELS.has(label))
      throw new Refusal(
        409,
        `The subdomain ${label}.${options.managedDomain} is reserved for the system; choose another.`,
      );
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

/**
 * The list with the new mailbox added; refuses a second mailbox, a bad or reserved id, a
 * taken address or domain. A mailbox on an external domain is added pending, with
 * `proofToken` for its TXT record: it goes live only once that record is seen.
 */
export function planCreate(
  list: UsersList,
  request: CreateRequest,
  options: UsersListOptions,
  proofToken = newProofToken(),
): RawMailbox[] {
  // The login names the mailbox's directory, and <mailRoot>/postmaster is the admin's.
  if (reservedRoute(request.owner))
    throw new Refusal(
      403,
      `The login ${request.owner} is a reserved role name and cannot own a mailbox; ask your administrator.`,
    );
  const existing = list.byOwner(request.owner);
  if (existing) throw new Refusal(409, `You already have a mailbox (${existing.address}); each person has one.`);
  const written = request.localPart.trim();
  const localPart = asciiLower(written);
  if (localPart === "") throw new Refusal(400, "Choose a mailbox id (the part before the @).");
  const idProblem = localPartProblem(localPart, written);
  if (idProblem) throw new Refusal(reservedRoute(localPart) ? 409 : 400, `${idProblem}.`);
  const domain = requestedDomain(request, options);
  const address = `${localPart}@${domain}`;
  if (list.byDeliveryAddress(address) || list.pendingByAddress(address))
    throw new Refusal(409, `The address ${address} is already taken.`);
  // A domain belongs to one owner: another person's mail must never be routed into your
  // mailbox. Only a live mailbox holds a domain: an unproven claim must not let anyone
  // squat a domain they do not control and lock its real owner out.
  const holder = list.mailboxes.find((m) => m.domain === domain && m.owner !== request.owner);
  if (holder) throw new Refusal(409, `The domain ${domain} is already used by another mailbox; choose another.`);
  const external = domainKind(domain, options.managedDomain) === "external";
  return [
    ...list.entries.map(toRaw),
    { owner: request.owner, address, ...(external ? { pendingProof: proofToken } : {}) },
  ];
}

/**
 * The list with `owner`'s pending mailbox made live, once the TXT record with `token` was
 * seen. Refused when the claim changed meanwhile, or another owner's mailbox went live on
 * the domain first.
 */
export function planProven(list: UsersList, owner: string, token: string): RawMailbox[] {
  const claim = list.byOwner(owner);
  if (!claim || claim.pendingProof !== token)
    throw new Refusal(409, `The claim of ${owner} changed while its proof was checked.`);
  const holder = list.mailboxes.find((m) => m.domain === claim.domain && m.owner !== owner);
  if (holder)
    throw new Refusal(409, `The domain ${claim.domain} went live for another mailbox first; ask your administrator.`);
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const { pendingProof: _proven, ...live } = toRaw(m);
    return live;
  });
}

/** The list without `owner`'s mailbox. */
export function planDelete(list: UsersList, owner: string): RawMailbox[] {
  if (!list.byOwner(owner))
    throw new Refusal(404, `There is no mailbox for ${owner} (it may have been deleted already).`);
  return list.entries.filter((m) => m.owner !== owner).map(toRaw);
}

/** The list with `owner`'s mailbox at `sizeText` ("10GiB"); only administrators call this. */
export function planResize(list: UsersList, owner: string, sizeText: string, options: UsersListOptions): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, `There is no mailbox for ${owner}.`);
  const size = parseSize(sizeText.trim());
  if (size === undefined || sizeText.trim() === "")
    throw new Refusal(400, `${JSON.stringify(sizeText)} is not a size: write e.g. 5GiB or 512MiB.`);
  if (size < options.minSize)
    throw new Refusal(400, `${formatSize(size)} is below the minimum mailbox size ${formatSize(options.minSize)}.`);
  // A live mailbox's filesystem grows only (mailbox-fs.sh refuses to shrink it, so the apply
  // would fail); a pending claim has no filesystem yet and may be sized either way.
  if (mailbox.pendingProof === undefined && size < mailbox.size)
    throw new Refusal(
      409,
      `${mailbox.address} is ${formatSize(mailbox.size)}: a mailbox only grows (shrinking its filesystem could lose mail).`,
    );
  return list.entries.map((m) => (m.owner === owner ? { ...toRaw(m), size } : toRaw(m)));
}

/**
 * The list with `line` added to `owner`'s SSH keys; refuses a malformed, weak, private,
 * duplicate or one-too-many key, and a key another owner has. A Refusal never quotes the line.
 */
export function planAddKey(list: UsersList, owner: string, line: string): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, "Create your mailbox first; its container is where the key lets you in.");
  if (line.trim() === "") throw new Refusal(400, "Paste a public key, e.g. the line in ~/.ssh/id_ed25519.pub.");
  const problem = sshKeyProblem(line);
  if (problem) throw new Refusal(400, `The key ${problem}.`);
  const key = normaliseSshKey(line);
  const fingerprint = sshKeyFingerprint(key);
  if (mailbox.sshKeys.some((k) => sshKeyFingerprint(k) === fingerprint))
    throw new Refusal(409, `The key ${fingerprint} is already there.`);
  // Pending claims too: their keys open a container once the domain is proven. The other
  // owner is not named: which person holds which key is theirs to tell.
  if (list.entries.some((m) => m.owner !== owner && m.sshKeys.some((k) => sshKeyFingerprint(k) === fingerprint))) {
    throw new Refusal(
      409,
      `The key ${fingerprint} already opens another person's container, and a key opens one container only. Add a key pair of your own (ssh-keygen -t ed25519 makes one).`,
    );
  }
  if (mailbox.sshKeys.length >= MAX_SSH_KEYS)
    throw new Refusal(409, `You have ${MAX_SSH_KEYS} keys, the most a mailbox holds; remove one first.`);
  return list.entries.map((m) => (m.owner === owner ? { ...toRaw(m), sshKeys: [...m.sshKeys, key] } : toRaw(m)));
}

/** The list without the key whose fingerprint is `fingerprint` among `owner`'s keys. */
export function planRemoveKey(list: UsersList, owner: string, fingerprint: string): RawMailbox[] {
  const mailbox = list.byOwner(owner);
  if (!mailbox) throw new Refusal(404, "You have no mailbox, so no keys.");
  const kept = mailbox.sshKeys.filter((k) => sshKeyFingerprint(k) !== fingerprint);
  if (kept.length === mailbox.sshKeys.length)
    throw new Refusal(404, `There is no key ${fingerprint} (it may have been removed already).`);
  return list.entries.map((m) => {
    if (m.owner !== owner) return toRaw(m);
    const { sshKeys: _old, ...rest } = toRaw(m);
    return kept.length > 0 ? { ...rest, sshKeys: kept } : rest;
  });
}
