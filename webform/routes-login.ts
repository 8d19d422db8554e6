// Log in and out. Same reply for an unknown user and a wrong password; attempts are
// limited per client IP and per account; a directory that is down gives a 503.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DirectoryUnavailableError } from "../config/directory.ts";
import {
  currentSession,
  field,
  postSession,
  sendCsrfRefusal,
  sendDirectoryDown,
  sendPage,
  signedCookie,
  withDeadline,
  type WebContext,
} from "./context.ts";
import { loginPage } from "./pages.ts";
import { randomToken, sameToken } from "./sessions.ts";

const WRONG = "Wrong login name or password.";

const NOTICES: Record<string, string> = {
  bye: "You are logged out.",
  expired: "Your session has ended; log in again.",
};

export function registerLoginRoutes(app: FastifyInstance, ctx: WebContext): void {
  const cookieOptions = {
    path: "/",
    httpOnly: true,
    sameSite: "strict",
    secure: ctx.cookies.secure,
    signed: true,
  } as const;

  /** The login form's CSRF token: kept in a signed cookie and echoed by the form (double submit). */
  const loginToken = (request: FastifyRequest, reply: FastifyReply): string => {
    const existing = signedCookie(request, ctx.cookies.login);
    if (existing !== undefined) return existing;
    const token = randomToken();
    reply.setCookie(ctx.cookies.login, token, cookieOptions);
    return token;
  };

  const refuse = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    error: string,
    login = "",
  ): FastifyReply => sendPage(reply, status, loginPage({ csrf: loginToken(request, reply), login, error }));

  app.get("/login", async (request, reply) => {
    if (currentSession(ctx, request)) return reply.redirect("/", 303);
    const which = Object.keys((request.query ?? {}) as object)[0];
    const notice = which !== undefined ? NOTICES[which] : undefined;
    return sendPage(reply, 200, loginPage({ csrf: loginToken(request, reply), ...(notice ? { notice } : {}) }));
  });

  app.post("/login", async (request, reply) => {
    if (!sameToken(field(request, "_csrf"), signedCookie(request, ctx.cookies.login))) return sendCsrfRefusal(reply);
    const login = field(request, "login").trim();
    const password = field(request, "password");
    const ip = request.ip;
    const account = login.toLowerCase();
    const wait = Math.max(ctx.ipLimiter.retryAfter(ip), account ? ctx.accountLimiter.retryAfter(account) : 0);
    if (wait > 0) {
      request.log.warn({ ip, login: account.slice(0, 64) }, "login rate-limited");
      reply.header("retry-after", String(wait));
      return refuse(
        request,
        reply,
        429,
        `Too many login attempts. Wait ${wait > 90 ? `${Math.ceil(wait / 60)} minutes` : `${wait} seconds`} and try again.`,
        login,
      );
    }
    ctx.ipLimiter.hit(ip);
    // ldapts would treat an empty password as an anonymous bind that "succeeds".
    if (login === "" || password === "")
      return refuse(request, reply, 400, "Enter your login name and your password.", login);

    let outcome;
    let admin = false;
    try {
      outcome = await withDeadline(
        ctx,
        (async () => {
          const result = await ctx.directory.authenticate(login, password);
          if (result.ok) admin = await ctx.directory.isAdmin(result.user.uid);
          return result;
        })(),
      );
    } catch (err) {
      if (err instanceof DirectoryUnavailableError) {
        request.log.error({ err: err.message }, "directory unavailable at login");
        return sendDirectoryDown(reply);
      }
      throw err;
    }
    if (!outcome.ok) {
      ctx.accountLimiter.hit(account);
      request.log.info({ ip, login: account.slice(0, 64) }, "login refused");
      return refuse(request, reply, 401, WRONG, login);
    }
    ctx.accountLimiter.reset(account);
    const old = signedCookie(request, ctx.cookies.session);
    if (old !== undefined) ctx.sessions.delete(old);
    const session = ctx.sessions.create({
      uid: outcome.user.uid,
      ...(outcome.user.displayName !== undefined ? { displayName: outcome.user.displayName } : {}),
      admin,
    });
    request.log.info({ uid: session.uid, admin }, "logged in");
    reply.setCookie(ctx.cookies.session, session.id, cookieOptions);
    reply.clearCookie(ctx.cookies.login, cookieOptions);
    return reply.redirect("/", 303);
  });

  app.post("/logout", async (request, reply) => {
    const session = postSession(ctx, request, reply);
    if (session === undefined) return reply;
    ctx.sessions.delete(session.id);
    reply.clearCookie(ctx.cookies.session, cookieOptions);
    return reply.redirect("/login?bye", 303);
  });
}
