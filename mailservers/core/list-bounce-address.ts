// A mailing list's envelope sender for its copies to members on other servers, so their
// bounces come back to the list and not to the poster:
//
//   team+bounces=HHHHHHHH=TT@semail.test
//
// The list's own address with a signed tag. HHHHHHHH: HMAC-SHA256 of "TT=<list address>" under
// a key derived from the forward secret (forward-secret.ts), base32, 8 characters; TT the day
// it was made, as SRS writes it (srs.ts). Signed rather than a plain `team+bounces@`: a
// stranger who never received a post cannot send us "bounces" that report members to the
// owners, nor make outbound's forward account send as the list (forward-policy.ts); and an
// address seen in an old post stops working after maxAgeDays (default 21, long past the
// 5 days a destination keeps retrying). '+' and '=' are in no mailbox id, so the address is
// never a mailbox's.
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
const TIMESTAMP_DAYS = 1024;
const TAG = "+bounces=";
const SIGNED = /^([A-Z2-7]{8})=([A-Z2-7]{2})$/i;

export interface ListBounceAddresses {
  /** The bounce address of the list at `list` (ASCII-lowercased). */
  make(list: string): string;
  /** The list address a bounce address of ours stands for, or undefined when it is not one, is forged or too old. */
  listOf(address: string): string | undefined;
  /** Whether `address` has the shape (ours or not; it may still fail listOf). */
  looksLike(address: string): boolean;
}

export function createListBounceAddresses(options: {
  readonly key: Buffer;
  readonly now: () => number;
  readonly maxAgeDays?: number;
}): ListBounceAddresses {
  const maxAge = options.maxAgeDays ?? 21;
  const hash = (stamp: string, list: string) => {
    const digest = createHmac("sha256", options.key).update(`${stamp}=${list}`.toLowerCase(), "utf8").digest();
    let bits = 0;
    let value = 0;
    let out = "";
    for (const byte of digest) {
      value = ((value << 8) | byte) & 0xffff;
      bits += 8;
      while (bits >= 5 && out.length < 8) {
        out += BASE32[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
      if (out.length >= 8) break;
    }
    return out;
  };
  const today = () => Math.floor(options.now() / DAY_MS) % TIMESTAMP_DAYS;
  const split = (address: string) => {
    const at = address.lastIndexOf("@");
    const cut = address.lastIndexOf(TAG, at);
    if (at < 1 || cut < 1) return undefined;
    const signed = SIGNED.exec(address.slice(cut + TAG.length, at));
    if (!signed) return undefined;
    return { list: address.slice(0, cut) + address.slice(at), given: signed[1]!, stamp: signed[2]! };
  };
  return {
    make(list) {
      const day = today();
      const stamp = BASE32[day >> 5]! + BASE32[day & 31]!;
      const at = list.lastIndexOf("@");
      return `${list.slice(0, at)}${TAG}${hash(stamp, list)}=${stamp}${list.slice(at)}`;
    },
    listOf(address) {
      const parts = split(address);
      if (!parts) return undefined;
      const list = parts.list.toLowerCase().replace(/\.$/, "");
      const stamp = parts.stamp.toUpperCase();
      if (!timingSafeEqual(Buffer.from(hash(stamp, list)), Buffer.from(parts.given.toUpperCase()))) return undefined;
      const made = BASE32.indexOf(stamp[0]!) * 32 + BASE32.indexOf(stamp[1]!);
      const age = (today() - made + TIMESTAMP_DAYS) % TIMESTAMP_DAYS;
      return age <= maxAge ? list : undefined;
    },
    looksLike: (address) => split(address) !== undefined,
  };
}
