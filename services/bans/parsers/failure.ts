// What a parser finds in one log line: an address that failed (a wrong password, a limit hit).
import { isIP } from "node:net";
import { plainAddress } from "../../../lib/ip-networks.ts";

export interface Failure {
  /** The client's IP address, IPv4-mapped IPv6 written as plain IPv4. */
  readonly address: string;
  /** What it did, for the ban's log line: "smtp auth failed", "dovecot auth failed", ... */
  readonly reason: string;
  /** Failures the line stands for (Dovecot reports a connection's attempts at once). */
  readonly count: number;
}

/** One source's lines to failures: pure, undefined for a line that is no failure. */
export type LogParser = (line: string) => Failure | undefined;

/** A failure from `address`, or undefined when it is not an IP literal (a log that names no client). */
export function failureFrom(address: unknown, reason: string, count = 1): Failure | undefined {
  if (typeof address !== "string") return undefined;
  const plain = plainAddress(address);
  return isIP(plain) === 0 ? undefined : { address: plain, reason, count };
}
