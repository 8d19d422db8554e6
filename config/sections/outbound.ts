// Settings of the outbound daemon (`semail outbound`) and `semail queue`.
import * as z from "zod/mini";
import { duration, integer, listenAddress, metricsAddress, network, nonEmpty, size } from "./common.ts";

/** "IP", "IP:PORT" or "[IPv6]:PORT" of a DNS server (inbound.resolver takes the same). */
export const dnsServer = z.string().check(
  z.regex(/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\]:\d{1,5})$/, {
    message: "must be IP, IP:PORT or [IPv6]:PORT such as 127.0.0.1:5353",
  }),
);

const port = () => integer(1, 65535);

const relayHostSettings = z
  .strictObject({
    /** Host name or address of the relay. */
    host: nonEmpty(),
    /** Port of the relay (587 submission, 465 implicit TLS). */
    port: z._default(port(), 587),
    /** Implicit TLS (port 465); otherwise STARTTLS, required when a user is set. */
    secure: z._default(z.boolean(), false),
    /** AUTH user at the relay. */
    user: z.optional(nonEmpty()),
    /** File holding the AUTH password (kept out of this file). */
    passwordFile: z.optional(nonEmpty()),
    /** With a user: check the relay's TLS certificate before sending the password. */
    verifyTls: z._default(z.boolean(), true),
  })
  .check(
    z.refine((r) => (r.user === undefined) === (r.passwordFile === undefined), {
      message: "relayHost.user and relayHost.passwordFile go together",
    }),
  );

const dkimKey = z.strictObject({
  /** Signing domain (d=). */
  domain: nonEmpty(),
  /** Selector (s=), published at SELECTOR._domainkey.DOMAIN. */
  selector: z
    .string()
    .check(
      z.regex(/^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/, { message: "must be a DNS label such as mail2026" }),
    ),
  /** PEM file of the RSA private key. */
  privateKeyFile: nonEmpty(),
});

const deliverySettings = z.strictObject({
  /** Name sent in EHLO; defaults to the top-level `hostname`. */
  ehloName: z.optional(nonEmpty()),
  /** Destination port of MX hosts (25; tests use another). */
  smtpPort: z._default(port(), 25),
  /** DNS server for MX lookups (IP:PORT); the system's resolvers when unset. */
  resolver: z.optional(dnsServer),
  /** Time for one DNS query. */
  dnsTimeout: z._default(duration, 5000),
  /** Address families: AAAA then A (prefer-ipv6), or one family only. */
  ipFamily: z._default(z.enum(["prefer-ipv6", "ipv4", "ipv6"]), "prefer-ipv6"),
  /** TCP connect timeout per address. */
  connectTimeout: z._default(duration, 30_000),
  /** Wait for the server's greeting (RFC 5321 4.5.3.2: 5 minutes). */
  greetingTimeout: z._default(duration, 300_000),
  /** Wait for a command reply, and while the message is sent; the reply after the message gets twice this (RFC 5321 4.5.3.2.6: 10 min). */
  commandTimeout: z._default(duration, 300_000),
  /** Keep a connection open this long after a message, for the next one to the same server (Postfix's smtp_connection_cache_time_limit); 0 = one connection per message. */
  connectionIdleTime: z._default(duration, 2000),
  /** TLS per recipient domain: opportunistic (default), require (defer without STARTTLS) or verify (also check the certificate). */
  tls: z._default(z.record(z.string(), z.enum(["opportunistic", "require", "verify"])), {}),
  /** Honour destinations' MTA-STS policies (RFC 8461) where `tls` does not name the domain; cached in the spool directory (mta-sts.json). */
  mtaSts: z._default(z.boolean(), true),
  /** Time for fetching one MTA-STS policy over HTTPS (connect to last byte). */
  mtaStsFetchTimeout: z._default(duration, 10_000),
  /** Honour DANE TLSA records (RFC 7672) when `resolver` is set and validates DNSSEC (answers with the AD bit). */
  dane: z._default(z.boolean(), true),
  /** Send all mail through this host instead of MX, for networks that block port 25. */
  relayHost: z.optional(relayHostSettings),
  /** DKIM keys; a key signs mail from its domain and the domain's subdomains. */
  dkim: z._default(z.array(dkimKey), []),
  /** Our own addresses for mail-loop detection; defaults to this machine's interface addresses. */
  localAddresses: z.optional(z.array(nonEmpty())),
  /** Our own names for mail-loop detection, besides the EHLO name. */
  localNames: z._default(z.array(nonEmpty()), []),
});

const retrySettings = z.strictObject({
  /** Waits before the 2nd, 3rd, ... attempt; the last one repeats (RFC 5321 4.5.4.1: at least 30 min after the first tries). */
  delays: z._default(z.array(duration).check(z.minLength(1)), [5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000]),
  /** Give up (bounce) once a message has been queued this long (RFC 5321: at least 4-5 days). */
  maxAge: z._default(duration, 5 * 86_400_000),
  /** Send the sender a "delayed" notice once a recipient is still deferred after this long; 0 = never. */
  delayNotice: z._default(duration, 4 * 3_600_000),
});

export const outboundSettings = z.strictObject({
  /** Loopback and container-network addresses to listen on. */
  listen: z.prefault(z.array(listenAddress).check(z.minLength(1)), ["127.0.0.1:587", "[::1]:587"]),
  /** Prometheus metrics at http://ADDR:PORT/metrics (mailservers/core/metrics.ts); off when unset. A loopback or admin address. */
  metricsListen: z.optional(metricsAddress),
  /** Spool directory of the queue. */
  spool: z._default(nonEmpty(), "/var/spool/semail"),
  /** Networks of the users' containers: listen addresses allowed besides loopback. */
  containerNetworks: z._default(z.array(network), []),
  /** Client networks allowed to AUTH without TLS besides loopback (e.g. the container network). */
  trustedNetworks: z._default(z.array(network), []),
  /** Failed AUTH allowed from one client address in authFailureWindow; then 454 4.7.0 until it ends. */
  authFailuresPerIp: z._default(integer(1), 20),
  /** Failed AUTH allowed for one account in authFailureWindow, from anywhere. */
  authFailuresPerAccount: z._default(integer(1), 10),
  /** Length of the failed-AUTH window. */
  authFailureWindow: z._default(duration, 15 * 60_000),
  /** Listen on a wildcard or public address anyway (an open submission port on the Internet). */
  forcePublicListen: z._default(z.boolean(), false),
  /** Largest message accepted (advertised as SIZE). */
  maxMessageSize: z._default(size("size"), 50 * 1024 ** 2),
  /** Most recipients per message. */
  maxRecipients: z._default(integer(1, 10000), 100),
  /** Most deliveries in progress at once. */
  concurrency: z._default(integer(1, 10000), 20),
  /** Most deliveries in progress at once to one destination domain. */
  perDomainConcurrency: z._default(integer(1, 1000), 5),
  retry: z._default(retrySettings, () => retrySettings.parse({})),
  /** How messages leave: MX lookup, connections, TLS, DKIM (mailservers/outbound/relay/delivery/send.ts). */
  delivery: z._default(deliverySettings, () => deliverySettings.parse({})),
  /**
   * A file (mode 0600) both daemons read: inbound logs in with it to hand outbound the users'
   * forwards and the bounces returned to their SRS addresses, and it keys SRS. Unset: no forwards.
   */
  forwardSecretFile: z.optional(nonEmpty()),
});
