// Settings of the automatic bans (services/bans, `semail bans`): which logs to follow, how
// many failures in what window ban an address, for how long (growing with each ban), the
// networks never banned, the firewall chain and the state file that outlives restarts.
import * as z from "zod/mini";
import { duration, integer, network, nonEmpty } from "./common.ts";

/** The parts whose logs are read, each by its own parser (services/bans/parsers). */
export const BAN_PARSERS = ["smtp", "webform", "dovecot", "sshd"] as const;

const banSource = z.strictObject({
  /** Which part writes the lines: smtp (either daemon), webform, dovecot or sshd. */
  parser: z.enum(BAN_PARSERS),
  /** The command whose standard output is that log, followed: `tail -F -n 0 FILE`, `journalctl -f -o cat -u UNIT`, `docker logs -f --since 0s NAME`. */
  command: z.array(nonEmpty()).check(z.minLength(1)),
});

const chainName = z
  .string()
  .check(
    z.regex(/^[A-Za-z][A-Za-z0-9_-]{0,27}$/, { message: "must be an iptables chain name: letters, digits, _ and -" }),
  );

const factor = z.pipe(z.coerce.number(), z.number().check(z.gte(1), z.lte(100)));

export const bansSettings = z
  .strictObject({
    /** Failures from one address within `window` that ban it. */
    maxFailures: z._default(integer(1, 10_000), 5),
    window: z._default(duration, 10 * 60_000),
    /** The first ban's length; each later one is `growth` times the one before, at most `maxBan`. */
    firstBan: z._default(duration, 10 * 60_000),
    growth: z._default(factor, 2),
    maxBan: z._default(duration, 7 * 86_400_000),
    /** Networks never banned (loopback never is). */
    allow: z._default(z.array(network), []),
    /** The iptables and ip6tables chain that holds the bans (a reject rule per banned address). */
    chain: z._default(chainName, "SEMAIL-BANS"),
    /** The chains that jump to it: INPUT for host processes; DOCKER-USER too for ports Docker publishes. */
    hookFrom: z._default(z.array(chainName).check(z.minLength(1)), ["INPUT"]),
    /** Where bans.json is kept. */
    stateDir: z._default(nonEmpty(), "/var/lib/semail/bans"),
    sources: z._default(z.array(banSource), []),
  })
  .check(
    z.refine((b) => b.firstBan <= b.maxBan, { message: "bans.firstBan must not be longer than bans.maxBan" }),
    z.refine((b) => b.firstBan > 0 && b.window > 0, { message: "bans.firstBan and bans.window must be longer than 0" }),
  );

export type BansSettings = z.output<typeof bansSettings>;
export type BanParserName = (typeof BAN_PARSERS)[number];
