// Settings of the self-service web form (`semail web`).
import * as z from "zod/mini";
import { domainName, duration, integer, listenAddress, nonEmpty, submissionAddress } from "./common.ts";

/** "IP" or "IP:PORT" / "[v6]:PORT" of a DNS server. */
const dnsServer = z.string().check(
  z.regex(/^(\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:.]+|[0-9.]+:\d{1,5})$/, {
    message: "must be an IP address, optionally with a port: 127.0.0.1, 127.0.0.1:5353 or [::1]:53",
  }),
);

export const webApplySettings = z.strictObject({
  /** How a change is applied: pulumi (Automation API, production), local (`semail start`), none (only write the list). */
  mode: z._default(z.enum(["pulumi", "local", "none"]), "pulumi"),
  /** Pulumi stack to update (mode pulumi). */
  stack: z._default(
    z
      .string()
      .check(z.regex(/^[A-Za-z0-9_./-]+$/, { message: "must be a stack name such as prod or org/semail/prod" })),
    "prod",
  ),
  /** Directory holding Pulumi.yaml and index.ts (mode pulumi). */
  projectDir: z._default(nonEmpty(), "."),
});

/** An http(s) URL, for a link users follow. */
const linkUrl = z.string().check(
  z.refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
      } catch {
        return false;
      }
    },
    { message: "must be an http(s) URL such as https://webmail.example.org/" },
  ),
);

export const webRateLimitSettings = z.strictObject({
  /** Login attempts allowed per client IP in one window. */
  loginsPerIp: z._default(integer(1), 20),
  /** Failed logins allowed per account in one window. */
  failuresPerAccount: z._default(integer(1), 5),
  /** Length of the login window, in seconds. */
  windowSeconds: z._default(integer(1), 900),
  /** Requests of any kind allowed per client IP per minute. */
  requestsPerMinute: z._default(integer(10), 600),
});

export const webSettings = z.strictObject({
  /** Address of the web form. */
  listen: z.prefault(listenAddress, "127.0.0.1:8080"),
  /**
   * Secret signing the session cookie (32+ characters). When unset a random one is made at
   * each start: sessions live in memory, so a restart ends them anyway.
   */
  sessionSecret: z.optional(z.string().check(z.minLength(32, { message: "must be at least 32 characters" }))),
  /** Send cookies over HTTPS only; false only for plain HTTP on loopback during development. */
  secureCookies: z._default(z.boolean(), true),
  /** Minutes without a request after which a session ends. */
  sessionIdleMinutes: z._default(integer(1, 24 * 60), 30),
  /** Trust X-Forwarded-For from a reverse proxy in front (the client IP used by rate limits). */
  trustProxy: z._default(z.boolean(), false),
  /** MX host of the managed domain, shown to owners of external domains; default mx.<managedDomain>. */
  mxHost: z.optional(domainName),
  /** DNS servers for the MX check of external domains; the system resolver when empty. */
  dnsServers: z._default(z.array(dnsServer), []),
  /**
   * The outbound daemon as users' mail programs reach it, shown on the mailbox page: their
   * containers reach it as semail-outbound:587 (components/stack.ts). `semail start` shows its own.
   */
  submission: z._default(submissionAddress, "semail-outbound:587"),
  /** A webmail for the users, linked from the mailbox page; when unset, the one the Pulumi stack runs (its `webmailUrl` output), else none. */
  webmailUrl: z.optional(linkUrl),
  rateLimit: z._default(webRateLimitSettings, () => webRateLimitSettings.parse({})),
  apply: z._default(webApplySettings, () => webApplySettings.parse({})),
  /** Furthest an owner may set their own mailbox's expiry from now (config/mailbox-expiry.ts); administrators are not bound. */
  maxExpiry: z._default(duration, 365 * 86_400_000),
});

export type WebSettings = z.output<typeof webSettings>;
