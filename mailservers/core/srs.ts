// The Sender Rewriting Scheme, as postsrsd writes it, so a forward keeps SPF valid: the
// envelope sender of a forwarded message is an address of ours that encodes the original
// one, and a bounce to it can be sent back there. Only addresses we made verify:
//
//   SRS0=HHHHHHHH=TT=origin.example=alice@semail.email
//
// HHHHHHHH: HMAC-SHA256 of "TT=domain=local" (lowercased: some hosts fold the case of a local
// part) under a secret key, base32, 8 characters (40 bits, against forging return paths);
// TT: the day it was made, base32, 10 bits (days since the epoch mod 1024), as postsrsd does.
// A returned address older than maxAgeDays no longer verifies (postsrsd's 21 days).
import { createHmac, timingSafeEqual } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DAY_MS = 86_400_000;
/** Days a timestamp counts before it wraps (2 base32 characters). */
const TIMESTAMP_DAYS = 1024;
const SRS_ADDRESS = /^SRS0=([A-Z2-7]{8})=([A-Z2-7]{2})=([^=@]+)=([^@]+)@([^@]+)$/i;

export interface SrsOptions {
  /** The HMAC key (forward-secret.ts derives it from the forward secret file). */
  readonly key: Buffer;
  /** Our domain the rewritten senders are at: SPF for it names our outbound addresses. */
  readonly domain: string;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** How long a rewritten address still takes a bounce; default 21 days. */
  readonly maxAgeDays?: number;
}

export interface Srs {
  /** Our SRS address for `sender`; the null sender "" stays "" (nothing may answer a bounce). */
  forward(sender: string): string;
  /** The original sender an SRS address of ours stands for, or undefined when it is not one, is forged or too old. */
  reverse(address: string): string | undefined;
  /** Whether `address` has the SRS0 shape, ours or not (it may still fail reverse). */
  looksLike(address: string): boolean;
}

const base32 = (bytes: Buffer, length: number): string => {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length >= length) break;
  }
  return out;
};

export function createSrs(options: SrsOptions): Srs {
  const { key, now } = options;
  const domain = options.domain.toLowerCase();
  const maxAge = options.maxAgeDays ?? 21;
  const hash = (stamp: string, origin: string, local: string) =>
    base32(createHmac("sha256", key).update(`${stamp}=${origin}=${local}`.toLowerCase(), "utf8").digest(), 8);
  const today = () => Math.floor(now() / DAY_MS) % TIMESTAMP_DAYS;
  return {
    forward(sender) {
      if (sender === "") return "";
      const at = sender.lastIndexOf("@");
      const local = sender.slice(0, at);
      const origin = sender.slice(at + 1).toLowerCase();
      const day = today();
      const stamp = BASE32[day >> 5]! + BASE32[day & 31]!;
      return `SRS0=${hash(stamp, origin, local)}=${stamp}=${origin}=${local}@${domain}`;
    },
    reverse(address) {
      const match = SRS_ADDRESS.exec(address);
      if (!match) return undefined;
      const [, given, stamp, origin, local, at] = match as unknown as [string, string, string, string, string, string];
      if (at.toLowerCase().replace(/\.$/, "") !== domain) return undefined;
      const expected = Buffer.from(hash(stamp.toUpperCase(), origin, local));
      if (!timingSafeEqual(expected, Buffer.from(given.toUpperCase()))) return undefined;
      const made = BASE32.indexOf(stamp[0]!.toUpperCase()) * 32 + BASE32.indexOf(stamp[1]!.toUpperCase());
      const age = (today() - made + TIMESTAMP_DAYS) % TIMESTAMP_DAYS;
      return age <= maxAge ? `${local}@${origin.toLowerCase()}` : undefined;
    },
    looksLike: (address) => /^SRS0=/i.test(address),
  };
}
