// The bans as data, and the rules over them (pure): who is banned until when, and how long
// the next ban of an address lasts. An entry outlives its ban by maxBan, so a repeat offender's
// next ban grows; after that quiet time it is forgotten and starts again at firstBan.
import type { BansSettings } from "../../config/sections/bans.ts";

export interface BanEntry {
  readonly address: string;
  /** Milliseconds since the epoch. */
  readonly since: number;
  readonly until: number;
  /** Bans of this address so far, this one included. */
  readonly offences: number;
  readonly reason: string;
}

/** Address → its entry; what bans.json holds. */
export type BanBook = ReadonlyMap<string, BanEntry>;

export type BanLengths = Pick<BansSettings, "firstBan" | "growth" | "maxBan">;

/** The length of an address's `offences`-th ban: firstBan × growth^(offences-1), at most maxBan. */
export function banLength(offences: number, lengths: BanLengths): number {
  const grown = lengths.firstBan * lengths.growth ** Math.max(0, offences - 1);
  return Math.min(lengths.maxBan, Number.isFinite(grown) ? Math.round(grown) : lengths.maxBan);
}

/** The new entry banning `address` from `now`: one offence more than its remembered entry. */
export function nextBan(book: BanBook, address: string, reason: string, now: number, lengths: BanLengths): BanEntry {
  const before = book.get(address);
  const offences = before !== undefined && now < before.until + lengths.maxBan ? before.offences + 1 : 1;
  return { address, since: now, until: now + banLength(offences, lengths), offences, reason };
}

export const isActive = (entry: BanEntry, now: number): boolean => entry.until > now;

/** The book without entries whose ban ended more than maxBan ago. */
export function withoutForgotten(book: BanBook, now: number, maxBan: number): Map<string, BanEntry> {
  return new Map([...book].filter(([, entry]) => now < entry.until + maxBan));
}
