// Settings of the inbound daemon (`semail inbound`).
import * as z from "zod/mini";
import { ownerProblem } from "../users-list.ts";
import {
  duration,
  integer,
  listenAddress,
  metricsAddress,
  network,
  nonEmpty,
  size,
  submissionAddress,
} from "./common.ts";
import { dnsServer } from "./outbound.ts";

const owner = z.string().check(
  z.refine((value) => ownerProblem(value) === undefined, {
    message: "must be a mailbox owner uid (a-z, 0-9, '.', '_', '-')",
  }),
);

/**
 * Submission on the public 587 and 465: a session that authenticates (only over TLS) has its
 * messages handed to the outbound daemon with the same login; any other session there is
 * an MX session, as on 25.
 */
const submissionSettings = z.strictObject({
  /** Which of inbound.listen offer AUTH (after TLS); unset: those on port 587 and 465. Never 25. */
  listen: z.optional(z.array(listenAddress)),
  /** The outbound daemon's submission (HOST:PORT) where an authenticated session's messages go. */
  outbound: z._default(submissionAddress, "127.0.0.1:587"),
  /** When outbound is not on loopback: the certificate (or its CA) its STARTTLS must show; default tls.cert, the one both daemons share. */
  outboundCaFile: z.optional(nonEmpty()),
  /** The name that certificate must carry; default `hostname`. */
  outboundTlsName: z.optional(nonEmpty()),
});

/** An `http://HOST:PORT` base URL (Rspamd's normal worker; its /checkv2 is asked). */
const httpUrl = z.string().check(
  z.refine(
    (value) => {
      try {
        const url = new URL(value);
        return url.protocol === "http:" && url.search === "" && url.hash === "";
      } catch {
        return false;
      }
    },
    { message: "must be an http:// URL of Rspamd's normal worker, such as http://127.0.0.1:11333" },
  ),
);

/** A score; strings too, since flags arrive as strings. */
const score = z.pipe(z.coerce.number(), z.number());

/**
 * An optional Rspamd asked for a verdict before the final 250 (mailservers/inbound/spam/):
 * its "reject" is 550 5.7.1, its "add header" (or "rewrite subject") puts the message in the
 * mailbox's Junk folder; every message gets the score in its headers. Unreachable or slow:
 * the message is accepted unscanned, and a header says so.
 */
const rspamdSettings = z.strictObject({
  /** Rspamd's normal worker (its HTTP protocol, POST /checkv2), e.g. http://127.0.0.1:11333. */
  url: httpUrl,
  /** Refuse (550 5.7.1) at or above this score too, beside Rspamd's own "reject" action. */
  rejectScore: z.optional(score),
  /** Deliver into Junk at or above this score too, beside Rspamd's "add header" action. */
  junkScore: z.optional(score),
  /** Longest wait for Rspamd's answer; past it the message is accepted unscanned. */
  timeout: z._default(duration, 10_000),
  /** Larger messages are not sent to Rspamd but accepted unscanned: each scan holds its message in memory (spamc's 500 KB). */
  maxSize: z._default(size("size"), 512 * 1024),
  /** Honour Rspamd's "greylist" and "soft reject" (451 4.7.1); off: those are delivered as "no action". */
  greylist: z._default(z.boolean(), false),
});

export type RspamdSettings = z.output<typeof rspamdSettings>;

/** Mailing lists: the directory's groups with a `mail` (directory/groups.ts, mailservers/inbound/lists/). */
const listsSettings = z.strictObject({
  /** Deliver to the directory's lists; off: LDAP is not asked for them. */
  enabled: z._default(z.boolean(), false),
  /** How often the lists are read again: a change in LDAP takes effect within this (a failed read keeps the last). */
  refresh: z._default(z.pipe(duration, z.number().check(z.gte(100, { message: "must be at least 100ms" }))), 60_000),
  /** Failures of one member on another server, within bounceWindow, that make a report to the list's owners. */
  bounceReport: z._default(integer(1, 1000), 3),
  /** How far back a member's bounces count. */
  bounceWindow: z._default(duration, 30 * 86_400_000),
});

export const inboundSettings = z.strictObject({
  /** Addresses to listen on; "/tls" marks implicit TLS (465). */
  listen: z.prefault(z.array(listenAddress).check(z.minLength(1)), ["[::]:25", "[::]:587", "[::]:465/tls"]),
  /** Prometheus metrics at http://ADDR:PORT/metrics (mailservers/core/metrics.ts); off when unset. A loopback or admin address. */
  metricsListen: z.optional(metricsAddress),
  /** Directory holding one mailbox root per owner: <mailRoot>/<owner>/. */
  mailRoot: z._default(nonEmpty(), "/var/mail/semail"),
  /** Largest message accepted (advertised as SIZE). */
  maxMessageSize: z._default(size("size"), 50 * 1024 ** 2),
  /** Owner whose mailbox gets postmaster@ and abuse@ of every served domain; unset: <mailRoot>/postmaster/. */
  adminOwner: z.optional(owner),
  /** Free space the mail root's filesystem must keep; below it MAIL gets 452 4.3.1. */
  minFreeSpace: z._default(size("size"), 64 * 1024 ** 2),
  /** Longest wait for a mailbox's dotlock before 451 4.2.0. */
  lockTimeout: z._default(duration, 20_000),
  /** Close a session that sent nothing for this long (RFC 5321: at least 5 minutes). */
  idleTimeout: z._default(duration, 300_000),
  /** Close a session that leaves a command or message line unfinished for this long. */
  commandTimeout: z._default(duration, 300_000),
  /** Most recipients per message (RFC 5321 asks servers to take at least 100). */
  maxRecipients: z._default(integer(100, 10_000), 100),
  /** Concurrent sessions over all listeners. */
  maxConnections: z._default(integer(1, 100_000), 1000),
  /** Concurrent sessions from one client address. */
  maxConnectionsPerIp: z._default(integer(1, 100_000), 100),
  /** Longest message line accepted, in bytes. */
  maxLineLength: z._default(integer(1000, 10 * 1024 ** 2), 64 * 1024),
  /** Pause before the greeting: a client that talks in it is an early talker (421); 0 greets at once. */
  greetDelay: z._default(duration, 100),
  /** How long an address that waited out that pause is greeted at once (postscreen's greet cache); 0: every connection waits. */
  greetPassTtl: z._default(duration, 86_400_000),
  submission: z._default(submissionSettings, () => submissionSettings.parse({})),
  /** DNS server for the SPF, DKIM, DMARC and ARC checks on arrival (IP:PORT); the system's resolvers when unset. */
  resolver: z.optional(dnsServer),
  /** Time for one DNS query of those checks; no answer by then is a temperror for that check. */
  dnsTimeout: z._default(duration, 5000),
  /** Longest the checks of one message may take in all; a lookup still open then is a temperror. */
  authTimeout: z._default(duration, 15_000),
  /** Refuse (550 5.7.1) mail failing DMARC of a domain whose policy is reject, and put p=quarantine's in Junk; false: only record the verdict. */
  dmarcEnforce: z._default(z.boolean(), true),
  /** Clients whose mail is not checked (this host itself, as OpenDMARC's IgnoreHosts): its header says `none`. */
  uncheckedNetworks: z.prefault(z.array(network), ["127.0.0.0/8", "::1"]),
  lists: z._default(listsSettings, () => listsSettings.parse({})),
  /** Spam scoring by an Rspamd; unset: none. */
  rspamd: z.optional(rspamdSettings),
  /** How long before a mailbox's `expires` its owner gets a warning in their INBOX (once). */
  expiryWarning: z._default(duration, 7 * 86_400_000),
});
