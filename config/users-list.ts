// The users list: one schema for the daemons, the Pulumi program and the web form.
//
//   mailboxes:
//     - owner: sow                        # LDAP uid; one mailbox per owner
//       address: souleymane@sow.semail.email
//       size: 5GiB                        # optional; default from settings
//       sshKeys: ["ssh-ed25519 AAAA..."]  # optional; a key is one owner's only
//       pendingProof: 5d41402abc4b2a76     # only while an external domain's DNS is unproven
//       forward: {to: me@elsewhere.example, keepCopy: true}  # optional (mailbox-forward.ts)
//       expires: 2027-01-31                # optional: no mail from then on (a date is 00:00 UTC)
//       host: b                            # optional: the SEMail host that holds it (mailbox-host.ts)
//       moving: c                          # only while `semail mailbox move` takes it to host c
//
// A mailbox with `pendingProof` is not live: no daemon serves it and the stack does not
// publish it, until its owner publishes the token in the domain's DNS (the web form
// checks, then drops the field). Entries an operator writes by hand are trusted as live.
import { parse, stringify } from "yaml";
import { mailUid } from "./mail-uid.ts";
import { asciiLower, reservedRoute } from "./reserved-names.ts";
import { formatSize, parseSize } from "./size.ts";
import { normaliseSshKey, sshKeyFingerprint, sshKeyProblem } from "./ssh-key.ts";
import { splitSubaddress } from "./subaddress.ts";
import { domainProblem } from "./domain-name.ts";
import { expiryOf } from "./mailbox-expiry.ts";
import { forwardOf, forwardTargetIsOurs, type MailboxForward } from "./mailbox-forward.ts";
import { MAIN_HOST, placementOf } from "./mailbox-host.ts";

export { domainProblem };

/** Where a mailbox's domain sits relative to the managed domain. */
export type DomainKind = "managed" | "subdomain" | "external";

export interface MailboxEntry {
  /** LDAP uid of the owner; also the mailbox's directory name under the mail root. */
  readonly owner: string;
  /** Lowercase `localPart@domain`. */
  readonly address: string;
  readonly localPart: string;
  readonly domain: string;
  readonly kind: DomainKind;
  /** Quota and filesystem size in bytes. */
  readonly size: number;
  /** True when the entry gave no size and the default applies. */
  readonly defaultSize: boolean;
  readonly sshKeys: readonly string[];
  /** More addresses of this mailbox, on its own domain (lowercase `alias@domain`): mail to them lands here, and the owner may send as them. */
  readonly aliases: readonly string[];
  /** Present while the owner has not proven control of the (external) domain: the token their TXT record must carry. */
  readonly pendingProof?: string;
  /** Where the owner has its mail forwarded (an address elsewhere), and whether a copy stays here. */
  readonly forward?: MailboxForward;
  /** When the mailbox stops receiving (ms since the epoch), and that moment as the file writes it. */
  readonly expires?: { readonly at: number; readonly written: string };
  /** The SEMail host that holds the mailbox (MAIN_HOST when the entry names none). */
  readonly host: string;
  /** Present while the mailbox is being moved to this host: no host stores its mail meanwhile (451). */
  readonly moving?: string;
}

export interface UsersListOptions {
  /** The managed domain, e.g. "semail.email"; subdomains of it get an MX automatically. */
  readonly managedDomain: string;
  /** Size for entries without one, in bytes. */
  readonly defaultSize: number;
  /** Smallest size accepted, in bytes. */
  readonly minSize: number;
  /** Sub-addressing's separator (config/subaddress.ts); "+" when unset, "" for none. */
  readonly subaddressSeparator?: string;
}

export class UsersListError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(`${source}: ${problems.join("; ")}`);
    this.name = "UsersListError";
    this.problems = problems;
  }
}

export const OWNER_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
export const LOCAL_PART_PATTERN = /^[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?$/;
const PROOF_TOKEN = /^[a-z0-9]{16,64}$/;
/** Keys per mailbox: enough for every device a person has, few enough to read on a page. */
export const MAX_SSH_KEYS = 20;
/** Aliases per mailbox: what a person hands out (shop, lists, work), not a catch-all. */
export const MAX_ALIASES = 50;

/** Why `owner` is not a valid LDAP uid / directory name, or undefined when it is. */
export function ownerProblem(owner: string): string | undefined {
  if (OWNER_PATTERN.test(owner) && !owner.includes("..")) return undefined;
  return `owner ${JSON.stringify(owner)} is not a valid uid: use a-z, 0-9, '.', '_', '-' (at most 64, starting and ending with a letter or digit)`;
}

/** Why `localPart` (ASCII-lowercased; `written` as the user wrote it) is not a valid mailbox id, or undefined when it is. */
export function localPartProblem(localPart: string, written = localPart): string | undefined {
  if (reservedRoute(localPart))
    return `${JSON.stringify(written)} is a reserved role name (postmaster, abuse, noreply, ...): choose another mailbox id`;
  if (LOCAL_PART_PATTERN.test(localPart) && !localPart.includes("..")) return undefined;
  return `${JSON.stringify(written)} is not a valid mailbox id: use a-z, 0-9, '.', '-' (at most 64, starting and ending with a letter or digit)`;
}

export function domainKind(domain: string, managedDomain: string): DomainKind {
  if (domain === managedDomain) return "managed";
  return domain.endsWith(`.${managedDomain}`) ? "subdomain" : "external";
}

/** The key an address is found by: ASCII case folded in both parts, as Postfix and Dovecot match. */
function addressKey(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 1) return undefined;
  return asciiLower(address).replace(/\.$/, "");
}

/**
 * The validated, indexed list. `mailboxes` holds the live ones only, so every consumer
 * that serves or publishes mailboxes skips the pending ones without having to ask.
 * Address lookups fold ASCII case in the local part and the domain.
 */
export class UsersList {
  /** Live mailboxes: served by the daemons, published by the stack. */
  readonly mailboxes: readonly MailboxEntry[];
  /** Mailboxes waiting for their owner to prove control of the domain. */
  readonly pending: readonly MailboxEntry[];
  readonly #byAddress = new Map<string, MailboxEntry>();
  readonly #byAlias = new Map<string, MailboxEntry>();
  readonly #pendingByAddress = new Map<string, MailboxEntry>();
  readonly #byOwner = new Map<string, MailboxEntry>();
  /** Domains with a live mailbox: asked at every RCPT TO, so a set, not a scan of the list. */
  readonly #domains = new Set<string>();

  /** Sub-addressing's separator: `id+tag@domain` reaches `id@domain`'s mailbox; "" for none. */
  readonly subaddressSeparator: string;

  constructor(entries: readonly MailboxEntry[], options: { readonly subaddressSeparator?: string } = {}) {
    this.subaddressSeparator = options.subaddressSeparator ?? "+";
    this.mailboxes = entries.filter((m) => m.pendingProof === undefined);
    this.pending = entries.filter((m) => m.pendingProof !== undefined);
    for (const m of entries) {
      (m.pendingProof === undefined ? this.#byAddress : this.#pendingByAddress).set(m.address, m);
      this.#byOwner.set(m.owner, m);
    }
    for (const m of this.mailboxes) {
      this.#domains.add(m.domain);
      for (const alias of m.aliases) this.#byAlias.set(alias, m);
    }
  }

  /** Every entry, live and pending, in list order: what the file holds. */
  get entries(): readonly MailboxEntry[] {
    return [...this.#byOwner.values()];
  }

  /** The live mailbox for an address (ASCII case-insensitive), or undefined. */
  byAddress(address: string): MailboxEntry | undefined {
    const key = addressKey(address);
    return key === undefined ? undefined : this.#byAddress.get(key);
  }

  /**
   * The live mailbox an envelope recipient reaches: by its address or one of its aliases, either
   * maybe with a sub-address tag. `address` is the one it was reached by, as the list spells it.
   */
  byDeliveryAddress(
    address: string,
  ): { readonly mailbox: MailboxEntry; readonly address: string; readonly tag?: string } | undefined {
    const exact = this.#reachedBy(address);
    if (exact) return exact;
    const sub = splitSubaddress(address, this.subaddressSeparator);
    const base = sub && this.#reachedBy(sub.base);
    return base && sub ? { ...base, tag: sub.tag } : undefined;
  }

  #reachedBy(address: string): { readonly mailbox: MailboxEntry; readonly address: string } | undefined {
    const key = addressKey(address);
    if (key === undefined) return undefined;
    const mailbox = this.#byAddress.get(key) ?? this.#byAlias.get(key);
    return mailbox && { mailbox, address: key };
  }

  /** The mailbox for an address that is waiting for its domain's proof, or undefined. */
  pendingByAddress(address: string): MailboxEntry | undefined {
    const key = addressKey(address);
    return key === undefined ? undefined : this.#pendingByAddress.get(key);
  }

  /** The owner's one mailbox, live or pending (`pendingProof` tells which). */
  byOwner(owner: string): MailboxEntry | undefined {
    return this.#byOwner.get(owner);
  }

  /** Every domain that has at least one mailbox. */
  domains(): Set<string> {
    return new Set(this.#domains);
  }

  hasDomain(domain: string): boolean {
    // ASCII case only, as askedDomain folds it: toLowerCase would make the Kelvin sign (U+212A) a 'k',
    // and the autoconfig answer for "\u212a.example" name a domain that is not served (a regression
    // input of fuzz/targets/autoconfig.ts).
    return this.#domains.has(asciiLower(domain));
  }
}

/** Validates parsed YAML; every problem is named by its entry (`mailboxes[2].address ...`). */
export function validateUsersList(data: unknown, options: UsersListOptions, source = "users list"): UsersList {
  const problems: string[] = [];
  if (data === null || data === undefined) return new UsersList([], options);
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new UsersListError(source, ["the file must be a mapping with a `mailboxes:` list"]);
  }
  const root = data as Record<string, unknown>;
  for (const key of Object.keys(root))
    if (key !== "mailboxes") problems.push(`unknown key ${JSON.stringify(key)} (expected only "mailboxes")`);
  const entries = root.mailboxes ?? [];
  if (!Array.isArray(entries)) throw new UsersListError(source, ["mailboxes must be a list"]);

  const mailboxes: MailboxEntry[] = [];
  const owners = new Map<string, number>();
  const uids = new Map<number, number>();
  const addresses = new Map<string, number>();
  /** Where each key (by fingerprint: the blob, whatever its comment) was first seen. */
  const keys = new Map<string, { owner: string; at: string }>();
  const forwards: { at: string; to: string }[] = [];
  entries.forEach((entry: unknown, i) => {
    const at = `mailboxes[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${at} must be a mapping with owner and address`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const before = problems.length;
    for (const key of Object.keys(e)) {
      if (
        ![
          "owner",
          "address",
          "size",
          "sshKeys",
          "aliases",
          "pendingProof",
          "forward",
          "expires",
          "host",
          "moving",
        ].includes(key)
      )
        problems.push(`${at} has unknown key ${JSON.stringify(key)}`);
    }
    const owner = typeof e.owner === "string" ? e.owner : "";
    if (typeof e.owner !== "string") problems.push(`${at}.owner is required (the owner's LDAP uid)`);
    else {
      const p = ownerProblem(owner);
      if (p) problems.push(`${at}.${p}`);
    }
    let localPart = "";
    let domain = "";
    if (typeof e.address !== "string") problems.push(`${at}.address is required (id@domain)`);
    else {
      const addr = e.address.trim();
      const sign = addr.lastIndexOf("@");
      if (sign < 1 || sign === addr.length - 1)
        problems.push(`${at}.address ${JSON.stringify(addr)} must be id@domain`);
      else {
        const written = addr.slice(0, sign);
        localPart = asciiLower(written);
        domain = addr
          .slice(sign + 1)
          .toLowerCase()
          .replace(/\.$/, "");
        const lp = localPartProblem(localPart, written);
        if (lp) problems.push(`${at}.address id ${lp}`);
        const dp = domainProblem(domain);
        if (dp) problems.push(`${at}.address domain ${dp}`);
      }
    }
    let size = options.defaultSize;
    if (e.size !== undefined) {
      const parsed = typeof e.size === "string" || typeof e.size === "number" ? parseSize(e.size) : undefined;
      if (parsed === undefined)
        problems.push(`${at}.size ${JSON.stringify(e.size)} is not a size: write e.g. 5GiB or 512MiB`);
      else if (parsed < options.minSize)
        problems.push(`${at}.size ${JSON.stringify(e.size)} is below the minimum ${formatSize(options.minSize)}`);
      else size = parsed;
    }
    let sshKeys: string[] = [];
    if (e.sshKeys !== undefined) {
      if (!Array.isArray(e.sshKeys)) problems.push(`${at}.sshKeys must be a list of public keys`);
      else {
        if (e.sshKeys.length > MAX_SSH_KEYS)
          problems.push(`${at}.sshKeys has ${e.sshKeys.length} keys; at most ${MAX_SSH_KEYS}`);
        sshKeys = e.sshKeys.map((k: unknown, j: number) => {
          const problem = typeof k === "string" ? sshKeyProblem(k) : "is not a string";
          if (problem) {
            problems.push(`${at}.sshKeys[${j}] ${problem}`);
            return "";
          }
          return normaliseSshKey(k as string);
        });
      }
    }
    const aliases = aliasesOf(e.aliases, at, domain, problems);
    let pendingProof: string | undefined;
    if (e.pendingProof !== undefined) {
      if (typeof e.pendingProof !== "string" || !PROOF_TOKEN.test(e.pendingProof))
        problems.push(`${at}.pendingProof must be the token the web form made (16-64 of a-z, 0-9)`);
      else if (domainKind(domain, options.managedDomain) !== "external")
        problems.push(`${at}.pendingProof is only for external domains: ${domain} is ours`);
      else pendingProof = e.pendingProof;
    }
    const forward = e.forward === undefined ? undefined : forwardOf(e.forward, `${at}.forward`, problems);
    const expires = e.expires === undefined ? undefined : expiryOf(e.expires, `${at}.expires`, problems);
    const placement = placementOf(e.host, e.moving, at, problems);
    if (problems.length > before) return;
    const address = `${localPart}@${domain}`;
    const ownerSeen = owners.get(owner);
    if (ownerSeen !== undefined)
      problems.push(
        `${at}.owner ${JSON.stringify(owner)} already has a mailbox (mailboxes[${ownerSeen}]): one mailbox per owner`,
      );
    const addressSeen = addresses.get(address);
    if (addressSeen !== undefined) {
      // Addresses are stored folded, so a clash may come from entries that differ only in case.
      const sameText = typeof e.address === "string" && asciiLower(e.address.trim()) === e.address.trim();
      problems.push(
        `${at}.address ${JSON.stringify(address)} is already taken by mailboxes[${addressSeen}]${sameText ? "" : " (addresses differing only in case are the same mailbox)"}`,
      );
    }
    // A uid shared by two owners would let each read the other's files wherever both are seen.
    const uidSeen = uids.get(mailUid(owner));
    if (uidSeen !== undefined && ownerSeen === undefined)
      problems.push(
        `${at}.owner ${JSON.stringify(owner)} has the same mail uid (${mailUid(owner)}) as mailboxes[${uidSeen}]: an administrator must give one of the two owners another login name`,
      );
    // The jump host lets a key open one container, the one of the first line sshd finds it
    // on: a key on two owners' mailboxes would lock one of them out of their own container.
    sshKeys.forEach((key, j) => {
      const fingerprint = sshKeyFingerprint(key);
      const seen = keys.get(fingerprint);
      if (seen === undefined) keys.set(fingerprint, { owner, at: `${at}.sshKeys[${j}]` });
      else if (seen.owner !== owner)
        problems.push(
          `${at}.sshKeys[${j}] (owner ${JSON.stringify(owner)}) is the key ${fingerprint} of ${seen.at} (owner ${JSON.stringify(seen.owner)}): a key may belong to one owner only; remove it from one of the two`,
        );
    });
    // One table of truth: an address is one mailbox's, whether as its address or an alias.
    for (const alias of aliases) {
      const seen = alias === address ? i : addresses.get(alias);
      if (seen !== undefined) problems.push(`${at}.aliases: ${alias} is already an address of mailboxes[${seen}]`);
      else addresses.set(alias, i);
    }
    uids.set(mailUid(owner), i);
    owners.set(owner, i);
    addresses.set(address, i);
    mailboxes.push({
      owner,
      address,
      localPart,
      domain,
      kind: domainKind(domain, options.managedDomain),
      size,
      defaultSize: e.size === undefined,
      sshKeys,
      aliases,
      ...(pendingProof !== undefined ? { pendingProof } : {}),
      ...(forward ? { forward } : {}),
      ...(expires ? { expires } : {}),
      ...placement!,
    });
    if (forward) forwards.push({ at: `${at}.forward.to`, to: forward.to });
  });
  // Once every entry is read: a forward may name no domain this list serves.
  for (const { at, to } of forwards)
    if (forwardTargetIsOurs(to, options.managedDomain, addresses.keys()))
      problems.push(
        `${at} ${JSON.stringify(to)} is on a domain this server serves: a forward is for an address elsewhere (for another address here, ask for an alias)`,
      );
  if (problems.length > 0) throw new UsersListError(source, problems);
  return new UsersList(mailboxes, options);
}

/** Parses the YAML text of a users list. */
export function parseUsersList(text: string, options: UsersListOptions, source = "users list"): UsersList {
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new UsersListError(source, [`not valid YAML: ${(err as Error).message.split("\n")[0]}`]);
  }
  return validateUsersList(data, options, source);
}

/** The YAML form, as the web form writes it; sizes that were defaulted stay implicit. */
export function serializeUsersList(mailboxes: readonly MailboxEntry[]): string {
  return stringify({ mailboxes: mailboxes.map(rawEntry) });
}

/** One entry as the file has it: what validateUsersList reads back to the same entry. */
export function rawEntry(m: MailboxEntry) {
  return {
    owner: m.owner,
    address: m.address,
    ...(m.defaultSize ? {} : { size: formatSize(m.size) }),
    ...(m.sshKeys.length > 0 ? { sshKeys: [...m.sshKeys] } : {}),
    ...(m.aliases.length > 0 ? { aliases: m.aliases.map((a) => a.slice(0, a.lastIndexOf("@"))) } : {}),
    ...(m.pendingProof !== undefined ? { pendingProof: m.pendingProof } : {}),
    ...(m.forward ? { forward: { to: m.forward.to, keepCopy: m.forward.keepCopy } } : {}),
    ...(m.expires ? { expires: m.expires.written } : {}),
    ...(m.host !== MAIN_HOST ? { host: m.host } : {}),
    ...(m.moving !== undefined ? { moving: m.moving } : {}),
  };
}

/** Why `item` cannot be one more alias besides `aliases` (on `domain`), or undefined. */
function aliasProblem(item: unknown, aliases: readonly string[], domain: string): string | undefined {
  if (typeof item !== "string") return "is not a string";
  const written = item.trim();
  const localPart = asciiLower(written);
  const problem = localPartProblem(localPart, written);
  if (problem) return problem.replaceAll("mailbox id", "alias");
  if (aliases.includes(`${localPart}@${domain}`)) return `${JSON.stringify(written)} is listed twice`;
  return undefined;
}

/** The aliases an entry gives (ids, on the mailbox's own domain), as addresses; each problem named. */
function aliasesOf(value: unknown, at: string, domain: string, problems: string[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push(`${at}.aliases must be a list of ids (the part before the @, on the mailbox's own domain)`);
    return [];
  }
  if (value.length > MAX_ALIASES) problems.push(`${at}.aliases has ${value.length}; at most ${MAX_ALIASES}`);
  const aliases: string[] = [];
  value.forEach((item: unknown, j: number) => {
    const problem = aliasProblem(item, aliases, domain);
    if (problem) problems.push(`${at}.aliases[${j}] ${problem}`);
    else aliases.push(`${asciiLower((item as string).trim())}@${domain}`);
  });
  return aliases;
}
