// Sub-addressing (RFC 5233): `id+tag@domain` is `id@domain` with a tag its owner chose, so
// they can hand out one address per shop and sort or cut off what comes to it. The
// separator is a setting (`subaddressSeparator`); none of its choices can appear in a
// mailbox id (users-list LOCAL_PART_PATTERN), so an address never splits two ways.

/** The separators the setting accepts; "" turns sub-addressing off. */
export const SUBADDRESS_SEPARATORS = ["+", "=", "_", ""] as const;

export type SubaddressSeparator = (typeof SUBADDRESS_SEPARATORS)[number];

export interface Subaddress {
  /** The address without its tag: `id@domain`. */
  readonly base: string;
  /** What came after the separator, as sent. */
  readonly tag: string;
}

/** `address` split at the first separator of its local part; undefined when it has no tag (or the separator is ""). */
export function splitSubaddress(address: string, separator: string): Subaddress | undefined {
  if (separator === "") return undefined;
  const at = address.lastIndexOf("@");
  if (at < 1) return undefined;
  const cut = address.indexOf(separator);
  // A tag needs an id before it; `+tag@domain` is no one's.
  if (cut < 1 || cut >= at) return undefined;
  return { base: address.slice(0, cut) + address.slice(at), tag: address.slice(cut + separator.length, at) };
}
