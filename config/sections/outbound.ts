// Settings of the outbound daemon (`semail outbound`) and `semail queue`.
import { z } from "zod";
import { duration, listenAddress, size } from "./common.ts";

/** "10.0.0.0/8", "fd00::/64" or a single address. */
const network = z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, { message: "must be an address or ADDR/PREFIX such as 10.88.0.0/16 or fd00::/64" });

/** "IP", "IP:PORT" or "[IPv6]:PORT" of a DNS server. */
const dnsServer = z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\]:\d{1,5})$/, {
  message: "must be IP, IP:PORT or [IPv6]:PORT such as 127.0.0.1:5353",
});

const deliverySettings = z
  .object({
    /** Name sent in EHLO; defaults to the top-level `hostname`. */
    ehloName: z.string().min(1).optional(),
    /** Destination port of MX hosts (25; tests use another). */
    smtpPort: z.coerce.number().int().min(1).max(65535).default(25),
    /** DNS server for MX lookups (IP:PORT); the system's resolvers when unset. */
    resolver: dnsServer.optional(),
    /** Time for one DNS query. */
    dnsTimeout: duration.default(5000),
    /** Address families: AAAA then A (prefer-ipv6), or one family only. */
    ipFamily: z.enum(["prefer-ipv6", "ipv4", "ipv6"]).default("prefer-ipv6"),
    /** TCP connect timeout per address. */
    connectTimeout: duration.default(30_000),
    /** Wait for the server's greeting (RFC 5321 4.5.3.2: 5 minutes). */
    greetingTimeout: duration.default(300_000),
    /** Wait for any command reply, including the one after the message. */
    commandTimeout: duration.default(300_000),
    /** TLS per recipient domain: opportunistic (default), require (defer without STARTTLS) or verify (also check the certificate). */
    tls: z.record(z.string(), z.enum(["opportunistic", "require", "verify"])).default({}),
    /** Send all mail through this host instead of MX, for networks that block port 25. */
    relayHost: z
      .object({
        /** Host name or address of the relay. */
        host: z.string().min(1),
        /** Port of the relay (587 submission, 465 implicit TLS). */
        port: z.coerce.number().int().min(1).max(65535).default(587),
        /** Implicit TLS (port 465); otherwise STARTTLS, required when a user is set. */
        secure: z.boolean().default(false),
        /** AUTH user at the relay. */
        user: z.string().min(1).optional(),
        /** File holding the AUTH password (kept out of this file). */
        passwordFile: z.string().min(1).optional(),
        /** With a user: check the relay's TLS certificate before sending the password. */
        verifyTls: z.boolean().default(true),
      })
      .strict()
      .refine((r) => (r.user === undefined) === (r.passwordFile === undefined), { message: "relayHost.user and relayHost.passwordFile go together" })
      .optional(),
    /** DKIM keys; a key signs mail from its domain and the domain's subdomains. */
    dkim: z
      .array(
        z
          .object({
            /** Signing domain (d=). */
            domain: z.string().min(1),
            /** Selector (s=), published at SELECTOR._domainkey.DOMAIN. */
            selector: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/, { message: "must be a DNS label such as mail2026" }),
            /** PEM file of the RSA private key. */
            privateKeyFile: z.string().min(1),
          })
          .strict(),
      )
      .default([]),
    /** Our own addresses for mail-loop detection; defaults to this machine's interface addresses. */
    localAddresses: z.array(z.string().min(1)).optional(),
    /** Our own names for mail-loop detection, besides the EHLO name. */
    localNames: z.array(z.string().min(1)).default([]),
  })
  .strict();

const retrySettings = z
  .object({
    /** Waits before the 2nd, 3rd, ... attempt; the last one repeats (RFC 5321 4.5.4.1: at least 30 min after the first tries). */
    delays: z.array(duration).min(1).default([5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000]),
    /** Give up (bounce) once a message has been queued this long (RFC 5321: at least 4-5 days). */
    maxAge: duration.default(5 * 86_400_000),
    /** Send the sender a "delayed" notice once a recipient is still deferred after this long; 0 = never. */
    delayNotice: duration.default(4 * 3_600_000),
  })
  .strict();

export const outboundSettings = z
  .object({
    /** Loopback and container-network addresses to listen on. */
    listen: z.array(listenAddress).min(1).default(["127.0.0.1:587", "[::1]:587"]),
    /** Spool directory of the queue. */
    spool: z.string().min(1).default("/var/spool/semail"),
    /** Networks of the users' containers: listen addresses allowed besides loopback. */
    containerNetworks: z.array(network).default([]),
    /** Client networks allowed to AUTH without TLS besides loopback (e.g. the container network). */
    trustedNetworks: z.array(network).default([]),
    /** Failed AUTH allowed from one client address in authFailureWindow; then 454 4.7.0 until it ends. */
    authFailuresPerIp: z.coerce.number().int().min(1).default(20),
    /** Failed AUTH allowed for one account in authFailureWindow, from anywhere. */
    authFailuresPerAccount: z.coerce.number().int().min(1).default(10),
    /** Length of the failed-AUTH window. */
    authFailureWindow: duration.default(15 * 60_000),
    /** Listen on a wildcard or public address anyway (an open submission port on the Internet). */
    forcePublicListen: z.boolean().default(false),
    /** Largest message accepted (advertised as SIZE). */
    maxMessageSize: size("size").default(50 * 1024 ** 2),
    /** Most recipients per message. */
    maxRecipients: z.coerce.number().int().min(1).max(10000).default(100),
    /** Most deliveries in progress at once. */
    concurrency: z.coerce.number().int().min(1).max(10000).default(20),
    /** Most deliveries in progress at once to one destination domain. */
    perDomainConcurrency: z.coerce.number().int().min(1).max(1000).default(5),
    retry: retrySettings.default(retrySettings.parse({})),
    /** How messages leave: MX lookup, connections, TLS, DKIM (mailservers/relay/send.ts). */
    delivery: deliverySettings.default(deliverySettings.parse({})),
  })
  .strict();
