// Settings of the self-service web form (`semail web`).
import { z } from "zod";
import { domainName, listenAddress } from "./common.ts";

/** "IP" or "IP:PORT" / "[v6]:PORT" of a DNS server. */
const dnsServer = z.string().regex(/^(\[[0-9a-fA-F:.]+\](:\d{1,5})?|[0-9a-fA-F:.]+|[0-9.]+:\d{1,5})$/, {
  message: "must be an IP address, optionally with a port: 127.0.0.1, 127.0.0.1:5353 or [::1]:53",
});

export const webApplySettings = z
  .object({
    /** How a change is applied: pulumi (Automation API, production), local (`semail start`), none (only write the list). */
    mode: z.enum(["pulumi", "local", "none"]).default("pulumi"),
    /** Pulumi stack to update (mode pulumi). */
    stack: z.string().regex(/^[A-Za-z0-9_.\/-]+$/, { message: "must be a stack name such as prod or org/semail/prod" }).default("prod"),
    /** Directory holding Pulumi.yaml and index.ts (mode pulumi). */
    projectDir: z.string().min(1).default("."),
  })
  .strict();

export const webRateLimitSettings = z
  .object({
    /** Login attempts allowed per client IP in one window. */
    loginsPerIp: z.coerce.number().int().min(1).default(20),
    /** Failed logins allowed per account in one window. */
    failuresPerAccount: z.coerce.number().int().min(1).default(5),
    /** Length of the login window, in seconds. */
    windowSeconds: z.coerce.number().int().min(1).default(900),
    /** Requests of any kind allowed per client IP per minute. */
    requestsPerMinute: z.coerce.number().int().min(10).default(600),
  })
  .strict();

export const webSettings = z
  .object({
    /** Address of the web form. */
    listen: listenAddress.default("127.0.0.1:8080"),
    /**
     * Secret signing the session cookie (32+ characters). When unset a random one is made at
     * each start: sessions live in memory, so a restart ends them anyway.
     */
    sessionSecret: z.string().min(32, { message: "must be at least 32 characters" }).optional(),
    /** Send cookies over HTTPS only; false only for plain HTTP on loopback during development. */
    secureCookies: z.boolean().default(true),
    /** Minutes without a request after which a session ends. */
    sessionIdleMinutes: z.coerce.number().int().min(1).max(24 * 60).default(30),
    /** Trust X-Forwarded-For from a reverse proxy in front (the client IP used by rate limits). */
    trustProxy: z.boolean().default(false),
    /** MX host of the managed domain, shown to owners of external domains; default mx.<managedDomain>. */
    mxHost: domainName.optional(),
    /** DNS servers for the MX check of external domains; the system resolver when empty. */
    dnsServers: z.array(dnsServer).default([]),
    rateLimit: webRateLimitSettings.default(webRateLimitSettings.parse({})),
    apply: webApplySettings.default(webApplySettings.parse({})),
  })
  .strict();

export type WebSettings = z.output<typeof webSettings>;
