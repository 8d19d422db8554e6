// Builds the web form from injected dependencies; the process part (settings, logger,
// signals, listen) is cli/web.ts. Tests build it with a real slapd and a fake applier.
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Resolver } from "node:dns/promises";
import type { Logger } from "pino";
import { mailHostName, STANDARD_MAIL_CLIENT_PORTS, type MailClientServers } from "../config/mail-clients.ts";
import type { WebSettings } from "../config/sections/web.ts";
import type { Settings } from "../config/settings.ts";
import { DEFAULT_TRANSPORT_SECURITY, type TransportSecurity } from "../config/stack/transport-security.ts";
import type { UsersListOptions } from "../config/users-list.ts";
import type { Directory } from "../config/directory.ts";
import { cachedAdminReport } from "./admin-report.ts";
import { ApplyRunner } from "./apply-runner.ts";
import type { Applier } from "../config/applier.ts";
import { STATUS_SCRIPT, STYLESHEET } from "./assets.ts";
import { registerAutoconfigRoutes } from "./autoconfig.ts";
import { currentSession, sendPage, viewerOf, type WebContext } from "./context.ts";
import { WindowLimiter } from "../lib/window-limiter.ts";
import { mailAccessFromSettings, type MailAccess } from "./mail-access.ts";
import { UsersListFile } from "./users-list-file.ts";
import { createMxChecker, type MxChecker } from "./mx-check.ts";
import { createProofLookup, type ProofLookup } from "./domain-proof.ts";
import { ProofChecker } from "./proof-checker.ts";
import { messagePage } from "./pages.ts";
import { Refusal } from "./refusal.ts";
import { registerAdminRoutes } from "./routes-admin.ts";
import { registerLoginRoutes } from "./routes-login.ts";
import { registerMailboxRoutes } from "./routes-mailbox.ts";
import { randomToken, SessionStore } from "./sessions.ts";

export interface WebAppDependencies {
  readonly directory: Directory;
  /** Path of the users list the form reads and rewrites. */
  readonly usersFile: string;
  readonly usersListOptions: UsersListOptions;
  readonly applier: Applier;
  /** settings.web */
  readonly web: WebSettings;
  readonly logger: Logger;
  /** Milliseconds since the epoch; tests move it to expire sessions and rate-limit windows. */
  readonly clock?: () => number;
  /** Bytes used by an owner's mailbox, when known. */
  readonly usage?: (owner: string) => Promise<number | undefined>;
  /** The largest message an owner's mailbox takes now (both copies, its own filesystem), when known. */
  readonly largestMessage?: (owner: string) => Promise<number | undefined>;
  /** How owners send and read mail (default: web.submission, web.webmailUrl and the applier's SSH lines); `semail start` gives its own. */
  readonly mailAccess?: MailAccess;
  /** The mail host as mail programs reach it (default: the MX host on the standard ports, which the VM publishes); `semail start` gives its own. */
  readonly mailClients?: MailClientServers;
  /** The MTA-STS and TLS-RPT settings the deployment publishes (default SEMail's, which local mode publishes); `semail web` asks its applier. */
  readonly transport?: TransportSecurity;
  /** Replaces the DNS MX check of external domains (default: node:dns on web.dnsServers). */
  readonly mxCheck?: MxChecker;
  /** Replaces the DNS lookup of external domains' ownership proofs (default: node:dns on web.dnsServers). */
  readonly proofLookup?: ProofLookup;
  /** The whole settings, for the administrators' health report (`semail report`'s checks); no report without them. */
  readonly report?: { readonly settings: Settings; readonly resolver?: Resolver };
  /** Longest wait for the directory before a 503 (default 9 s). */
  readonly directoryTimeoutMs?: number;
  /** Serve HTTPS with this PEM key and certificate chain (a listen address ending in /tls). */
  readonly https?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

export interface WebApp {
  readonly app: FastifyInstance;
  readonly runner: ApplyRunner;
  readonly store: UsersListFile;
  readonly proofs: ProofChecker;
}

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export async function buildWebApp(deps: WebAppDependencies): Promise<WebApp> {
  const { web } = deps;
  const clock = deps.clock ?? Date.now;
  const app = Fastify({
    ...(deps.https ? { https: { key: deps.https.key, cert: deps.https.cert } } : {}),
    // A pino Logger is a FastifyBaseLogger; the cast only drops pino's extra generic.
    loggerInstance: deps.logger as FastifyBaseLogger,
    trustProxy: web.trustProxy,
    // Forms are small; login names and passwords travel in bodies, which fastify does not log.
    bodyLimit: 16 * 1024,
  });
  const store = new UsersListFile(deps.usersFile, deps.usersListOptions, deps.logger);
  const runner = new ApplyRunner({ applier: deps.applier, load: () => store.read(), logger: deps.logger, clock });
  const mxHost = web.mxHost ?? mailHostName(deps.usersListOptions.managedDomain);
  const mxCheck = deps.mxCheck ?? createMxChecker({ mxHost, servers: web.dnsServers, clock });
  const proofs = new ProofChecker({
    read: () => store.read(),
    update: (change) => store.update(change),
    lookup: deps.proofLookup ?? createProofLookup({ servers: web.dnsServers }),
    onProven: (owner, domain) => {
      runner.request(`domain proven for ${owner}`);
      // The page that follows the claim shows the MX as it is now, not as it was cached.
      void mxCheck(domain, { fresh: true }).catch(() => undefined);
    },
    logger: deps.logger.child({ component: "proof" }),
    // Only a test's clock: left alone, the checker keeps its schedule on the monotonic clock.
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const secure = web.secureCookies;
  const windowMs = web.rateLimit.windowSeconds * 1000;
  const ctx: WebContext = {
    directory: deps.directory,
    options: deps.usersListOptions,
    web,
    mxHost,
    store,
    runner,
    applier: deps.applier,
    sessions: new SessionStore({ idleMs: web.sessionIdleMinutes * 60_000, clock }),
    ipLimiter: new WindowLimiter({ limit: web.rateLimit.loginsPerIp, windowMs, clock }),
    accountLimiter: new WindowLimiter({ limit: web.rateLimit.failuresPerAccount, windowMs, clock }),
    mxCheck,
    proofs,
    usage: deps.usage ?? (async () => undefined),
    largestMessage: deps.largestMessage ?? (async () => undefined),
    ...(deps.report
      ? {
          report: cachedAdminReport({
            ...deps.report,
            directory: deps.directory,
            users: () => store.read(),
            clock,
          }),
        }
      : {}),
    mailAccess: deps.mailAccess ?? mailAccessFromSettings(web, deps.applier),
    mailClients: deps.mailClients ?? { host: mxHost, ports: STANDARD_MAIL_CLIENT_PORTS },
    transport: deps.transport ?? DEFAULT_TRANSPORT_SECURITY,
    logger: deps.logger,
    clock,
    directoryTimeoutMs: deps.directoryTimeoutMs ?? 9000,
    // The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and path=/.
    cookies: {
      session: secure ? "__Host-semail-session" : "semail-session",
      login: secure ? "__Host-semail-login" : "semail-login",
      secure,
    },
  };

  await app.register(cookie, { secret: web.sessionSecret ?? randomToken() });
  await app.register(formbody);

  // Every request of one client IP counts against a per-minute budget.
  const requests = new WindowLimiter({ limit: web.rateLimit.requestsPerMinute, windowMs: 60_000, clock });
  app.addHook("onRequest", async (request, reply) => {
    const wait = requests.retryAfter(request.ip);
    requests.hit(request.ip);
    if (wait > 0) {
      reply.header("retry-after", String(wait));
      return sendPage(
        reply,
        429,
        messagePage("Too many requests", `Too many requests from your address. Wait ${wait} seconds and try again.`),
      );
    }
  });
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.headers(SECURITY_HEADERS);
    if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
    return payload;
  });

  app.get("/assets/app.css", async (_request, reply) =>
    reply.type("text/css; charset=utf-8").header("cache-control", "max-age=3600").send(STYLESHEET),
  );
  app.get("/assets/status.js", async (_request, reply) =>
    reply.type("text/javascript; charset=utf-8").header("cache-control", "max-age=3600").send(STATUS_SCRIPT),
  );

  // Browsers ask for it on every page; an empty answer keeps a 404 out of their console.
  app.get("/favicon.ico", async (_request, reply) => reply.code(204).header("cache-control", "max-age=86400").send());

  // Mail programs ask without a session: the answer is the same for every address of a domain.
  registerAutoconfigRoutes(app, {
    provider: ctx.options.managedDomain,
    servers: ctx.mailClients,
    list: () => store.read(),
  });
  registerLoginRoutes(app, ctx);
  registerMailboxRoutes(app, ctx);
  registerAdminRoutes(app, ctx);

  app.setNotFoundHandler(async (request, reply) => {
    const session = currentSession(ctx, request);
    return sendPage(
      reply,
      404,
      messagePage("Not found", "There is no such page.", session ? viewerOf(session) : undefined),
    );
  });
  app.setErrorHandler(async (error, request, reply) => {
    const session = currentSession(ctx, request);
    const viewer = session ? viewerOf(session) : undefined;
    if (error instanceof Refusal) return sendPage(reply, error.status, messagePage("Refused", error.message, viewer));
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return sendPage(reply, status, messagePage("Request refused", (error as Error).message, viewer));
    }
    request.log.error({ err: error }, "request failed");
    return sendPage(
      reply,
      500,
      messagePage(
        "Something went wrong",
        "The request failed on the server; nothing was changed unless the page said so. Try again; if it fails again, tell your administrator.",
        viewer,
      ),
    );
  });

  app.addHook("onReady", async () => proofs.start());
  app.addHook("onClose", async () => {
    await proofs.close();
    await runner.close();
  });
  return { app, runner, store, proofs };
}
