// Settings of the inbound daemon (`semail inbound`).
import * as z from "zod/mini";
import { ownerProblem } from "../users-list.ts";
import { duration, integer, listenAddress, nonEmpty, size, submissionAddress } from "./common.ts";

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

export const inboundSettings = z.strictObject({
  /** Addresses to listen on; "/tls" marks implicit TLS (465). */
  listen: z.prefault(z.array(listenAddress).check(z.minLength(1)), ["[::]:25", "[::]:587", "[::]:465/tls"]),
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
});
