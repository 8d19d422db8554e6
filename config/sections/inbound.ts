// Settings of the inbound daemon (`semail inbound`).
import { z } from "zod";
import { ownerProblem } from "../users-list.ts";
import { duration, listenAddress, size } from "./common.ts";

const owner = z.string().refine((value) => ownerProblem(value) === undefined, { message: "must be a mailbox owner uid (a-z, 0-9, '.', '_', '-')" });

export const inboundSettings = z
  .object({
    /** Addresses to listen on; "/tls" marks implicit TLS (465). */
    listen: z.array(listenAddress).min(1).default(["[::]:25", "[::]:587", "[::]:465/tls"]),
    /** Directory holding one mailbox root per owner: <mailRoot>/<owner>/. */
    mailRoot: z.string().min(1).default("/var/mail/semail"),
    /** Largest message accepted (advertised as SIZE). */
    maxMessageSize: size("size").default(50 * 1024 ** 2),
    /** Owner whose mailbox gets postmaster@ and abuse@ of every served domain; unset: <mailRoot>/postmaster/. */
    adminOwner: owner.optional(),
    /** Free space the mail root's filesystem must keep; below it MAIL gets 452 4.3.1. */
    minFreeSpace: size("size").default(64 * 1024 ** 2),
    /** Longest wait for a mailbox's dotlock before 451 4.2.0. */
    lockTimeout: duration.default(20_000),
    /** Close a session that sent nothing for this long (RFC 5321: at least 5 minutes). */
    idleTimeout: duration.default(300_000),
    /** Close a session that leaves a command or message line unfinished for this long. */
    commandTimeout: duration.default(300_000),
    /** Most recipients per message (RFC 5321 asks servers to take at least 100). */
    maxRecipients: z.coerce.number().int().min(100).max(10_000).default(100),
    /** Concurrent sessions over all listeners. */
    maxConnections: z.coerce.number().int().min(1).max(100_000).default(1000),
    /** Concurrent sessions from one client address. */
    maxConnectionsPerIp: z.coerce.number().int().min(1).max(100_000).default(100),
    /** Longest message line accepted, in bytes. */
    maxLineLength: z.coerce.number().int().min(1000).max(10 * 1024 ** 2).default(64 * 1024),
    /** Pause before the greeting: a client that talks in it is an early talker (421); 0 greets at once. */
    greetDelay: duration.default(100),
  })
  .strict();
