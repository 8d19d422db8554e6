// SMTP AUTH against the directory, one implementation for both daemons (outbound's
// submission, inbound's 587/465): a bind as the user, with password guessing slowed per
// client address and per account, and a hung directory answered 454 in bounded time.
//
// The login is the LDAP uid, or a live mailbox address in the users list (what mail
// programs are set up with), which logs in as its owner. An unknown or pending address
// fails exactly like a wrong password: the reply never says which part was wrong.
import type { Logger } from "pino";
import type { UsersList } from "../../config/users-list.ts";
import { DirectoryUnavailableError, type Directory } from "../../config/directory.ts";
import { WindowLimiter } from "../../lib/window-limiter.ts";
import { SmtpError, permFail, tempFail, type SessionInfo } from "./types.ts";

export interface AuthenticatorOptions {
  readonly directory: Directory;
  /** The current users list, for logins by mailbox address. */
  readonly users: () => UsersList;
  /** Whether this session may AUTH without TLS (outbound: loopback and trusted networks; inbound: never). */
  readonly plaintextAllowed: (session: SessionInfo) => boolean;
  /** A directory that has not answered by then is "unavailable" (454), whatever its own timeouts. */
  readonly timeoutMs?: number;
  /** Failed AUTH allowed per client address, and per account, in one window (password guessing). */
  readonly failures?: { readonly perIp: number; readonly perAccount: number; readonly windowMs: number };
  /** Clock of the failure windows (tests move it). */
  readonly now?: () => number;
  readonly logger: Logger;
}

/** Resolves to the authenticated uid, or undefined for bad credentials; throws SmtpError (538, 454). */
export type Authenticator = (login: string, password: string, session: SessionInfo) => Promise<string | undefined>;

export const DEFAULT_AUTH_FAILURES = { perIp: 20, perAccount: 10, windowMs: 15 * 60_000 } as const;

/**
 * The uid a login names: a login without "@" is a uid as typed (the directory checks and
 * escapes it); an address is its live mailbox's owner (ASCII case-folded), or undefined.
 */
export function loginUid(login: string, users: UsersList): string | undefined {
  if (!login.includes("@")) return login;
  return users.byAddress(login)?.owner;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { directory, users, logger } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const limits = options.failures ?? DEFAULT_AUTH_FAILURES;
  const clock = options.now ?? Date.now;
  const ipFailures = new WindowLimiter({ limit: limits.perIp, windowMs: limits.windowMs, clock });
  const accountFailures = new WindowLimiter({ limit: limits.perAccount, windowMs: limits.windowMs, clock });

  return async (login, password, session) => {
    // The front end hides AUTH there already; this keeps the rule true whatever calls us.
    if (!session.secure && !options.plaintextAllowed(session))
      throw permFail(538, "5.7.11", "Encryption required: use STARTTLS first");
    const uid = loginUid(login, users());
    // Both spellings of one account share its counter; an unknown address counts on its own.
    const account = (uid ?? login).toLowerCase();
    // Guessing is slowed before the directory is asked: per client address and per account.
    if (ipFailures.retryAfter(session.remoteAddress) > 0 || accountFailures.retryAfter(account) > 0) {
      logger.warn(
        { session: session.id, remote: session.remoteAddress, username: login },
        "AUTH refused: too many failed logins",
      );
      throw tempFail(454, "4.7.0", "Too many failed logins; try again later");
    }
    const failed = () => {
      ipFailures.hit(session.remoteAddress);
      accountFailures.hit(account);
      return undefined;
    };
    // ldapts treats an empty password as an anonymous bind, which "succeeds".
    if (password === "" || uid === undefined || uid === "") return failed();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DirectoryUnavailableError(`no answer from the directory in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const outcome = await Promise.race([directory.authenticate(uid, password), timeout]);
      return outcome.ok ? outcome.user.uid : failed();
    } catch (err) {
      if (err instanceof SmtpError) throw err;
      logger.warn({ session: session.id, err: (err as Error).message }, "directory unavailable for AUTH");
      throw tempFail(454, "4.7.0", "Authentication service temporarily unavailable, try again later");
    } finally {
      clearTimeout(timer);
    }
  };
}
