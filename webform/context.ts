// What the route files share: the injected dependencies, the stores, and the helpers
// that read the session, check CSRF tokens and send pages.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { MailClientServers } from "../config/mail-clients.ts";
import type { TransportSecurity } from "../config/stack/transport-security.ts";
import type { WebSettings } from "../config/sections/web.ts";
import type { UsersListOptions } from "../config/users-list.ts";
import type { Directory } from "../config/directory.ts";
import { DirectoryUnavailableError } from "../config/directory.ts";
import type { Applier } from "../config/applier.ts";
import type { AdminReport } from "./admin-report.ts";
import type { ApplyRunner } from "./apply-runner.ts";
import type { Html } from "./html.ts";
import type { WindowLimiter } from "../lib/window-limiter.ts";
import type { MailAccess } from "./mail-access.ts";
import type { UsersListFile } from "./users-list-file.ts";
import type { MxChecker } from "./mx-check.ts";
import type { ProofChecker } from "./proof-checker.ts";
import { messagePage, type Viewer } from "./pages.ts";
import { sameToken, type Session, type SessionStore } from "./sessions.ts";

export interface WebContext {
  readonly directory: Directory;
  readonly options: UsersListOptions;
  readonly web: WebSettings;
  readonly mxHost: string;
  readonly store: UsersListFile;
  readonly runner: ApplyRunner;
  /** Asked directly for what it keeps of a deleted mailbox (kept-mail.ts). */
  readonly applier: Pick<Applier, "keptMail" | "decideKeptMail">;
  readonly sessions: SessionStore;
  readonly ipLimiter: WindowLimiter;
  readonly accountLimiter: WindowLimiter;
  readonly mxCheck: MxChecker;
  /** The DNS proofs of pending claims on external domains. */
  readonly proofs: ProofChecker;
  readonly usage: (owner: string) => Promise<number | undefined>;
  /** The largest message the owner's mailbox takes now, when known (inbound's store). */
  readonly largestMessage: (owner: string) => Promise<number | undefined>;
  /** `semail report`'s findings for the administrators' page, kept a minute; absent without the settings to run it. */
  readonly report?: AdminReport;
  /** How owners send and read mail, for their mailbox page. */
  readonly mailAccess: MailAccess;
  /** The mail host as mail programs reach it (autoconfig, the SRV records shown for an external domain). */
  readonly mailClients: MailClientServers;
  /** The MTA-STS and TLS-RPT settings the deployment publishes (the records shown for an external domain). */
  readonly transport: TransportSecurity;
  readonly logger: Logger;
  /** Milliseconds since the epoch (a test's clock): "now" for an owner's expiry. */
  readonly clock: () => number;
  readonly directoryTimeoutMs: number;
  readonly cookies: { readonly session: string; readonly login: string; readonly secure: boolean };
}

export function sendPage(reply: FastifyReply, status: number, page: Html): FastifyReply {
  return reply.code(status).type("text/html; charset=utf-8").send(page.text);
}

export function viewerOf(session: Session): Viewer {
  return { uid: session.uid, admin: session.admin, csrf: session.csrf };
}

/** A form field as one string; repeated or missing fields read as "". */
export function field(request: FastifyRequest, name: string): string {
  const body = request.body;
  if (typeof body !== "object" || body === null) return "";
  const value = (body as Record<string, unknown>)[name];
  return typeof value === "string" ? value : "";
}

/** The signed cookie's value, or undefined when absent or tampered with. */
export function signedCookie(request: FastifyRequest, name: string): string | undefined {
  const raw = request.cookies[name];
  if (raw === undefined) return undefined;
  const unsigned = request.unsignCookie(raw);
  return unsigned.valid && unsigned.value !== null ? unsigned.value : undefined;
}

export function currentSession(ctx: WebContext, request: FastifyRequest): Session | undefined {
  return ctx.sessions.get(signedCookie(request, ctx.cookies.session));
}

/** The page for a POST whose CSRF token is missing or wrong. */
export function sendCsrfRefusal(reply: FastifyReply, viewer?: Viewer): FastifyReply {
  return sendPage(
    reply,
    403,
    messagePage(
      "Form refused",
      "This form did not come from this site's own page, or it has expired. Go back, reload the page and send it again.",
      viewer,
    ),
  );
}

/** The logged-in session for a POST carrying its CSRF token; otherwise replies and returns undefined. */
export function postSession(ctx: WebContext, request: FastifyRequest, reply: FastifyReply): Session | undefined {
  const session = currentSession(ctx, request);
  if (session === undefined) {
    void sendPage(
      reply,
      403,
      messagePage("Logged out", "Your session has ended. Log in again and repeat the change.", undefined, {
        href: "/login",
        text: "Log in",
      }),
    );
    return undefined;
  }
  if (!sameToken(field(request, "_csrf"), session.csrf)) {
    ctx.logger.warn({ uid: session.uid, url: request.url }, "CSRF token refused");
    void sendCsrfRefusal(reply, viewerOf(session));
    return undefined;
  }
  return session;
}

/** Rejects with DirectoryUnavailableError when the directory does not answer in time. */
export async function withDeadline<T>(ctx: WebContext, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DirectoryUnavailableError(`the directory did not answer within ${ctx.directoryTimeoutMs} ms`)),
      ctx.directoryTimeoutMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function sendDirectoryDown(reply: FastifyReply, viewer?: Viewer): FastifyReply {
  return sendPage(
    reply.header("retry-after", "60"),
    503,
    messagePage(
      "Directory unavailable",
      "The directory (LDAP) that checks logins cannot be reached right now, so nothing can be checked. Try again in a few minutes; if this lasts, tell your administrator.",
      viewer,
      { href: "/login", text: "Try again" },
    ),
  );
}
