// What `semail bans list` and `semail bans unban` do, without the watcher: read the book, or
// lift one ban from the book and the firewall. Lifting also forgets the address's offences
// (the operator has forgiven it: its next ban starts at bans.firstBan).
import { isIP } from "node:net";
import { plainAddress } from "../../lib/ip-networks.ts";
import { isActive, type BanEntry } from "./ban-book.ts";
import { changeBanBook, readBanBook } from "./ban-state.ts";
import type { Firewall } from "./firewall.ts";

/** The bans in force at `now`, soonest to end first. */
export async function currentBans(stateDir: string, now: number): Promise<BanEntry[]> {
  const book = await readBanBook(stateDir);
  return [...book.values()].filter((entry) => isActive(entry, now)).sort((a, b) => a.until - b.until);
}

/** `address` written as the watcher writes it; an error naming it when it is no IP address. */
export function banAddress(text: string): string {
  const address = plainAddress(text.trim()).toLowerCase();
  if (isIP(address) === 0) throw new Error(`${JSON.stringify(text)} is not an IP address`);
  return address;
}

/** Lifts the ban of `address`; resolves to whether the book had it. */
export async function liftBan(stateDir: string, firewall: Firewall, address: string): Promise<boolean> {
  const had = await changeBanBook(stateDir, (book) => {
    const found = book.delete(address);
    return { changed: found, value: found };
  });
  await firewall.unban(address);
  return had;
}
