// The relay DeliveryBackend: the submission policy (who may send, from which address)
// in front of the spool. Authenticated users only; MAIL FROM, and the From: and Sender:
// headers, must be the sender's own live mailboxes in the users list (a missing From: is
// added from MAIL FROM); the message is on disk before the 250. The one other account is
// inbound's forward account (forward-policy.ts), which logs in with the forward secret.
import type { BlockList } from "node:net";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { domainProblem, type UsersList } from "../../config/users-list.ts";
import type { Directory } from "../../config/directory.ts";
import { createAuthenticator } from "../core/authenticate.ts";
import { FORWARD_LOGIN, isForwardPassword, type ForwardSecret } from "../core/forward-secret.ts";
import type { ForwardPolicy } from "./forward-policy.ts";
import { checkSubmissionSender } from "../core/own-address.ts";
import { SmtpError, permFail, tempFail, type DeliveryBackend, type Envelope, type SessionInfo } from "../core/types.ts";
import { readHeaderBlock } from "./header-block.ts";
import { checkHeaderIdentity } from "./header-identity.ts";
import { receivedHeader, type Queue, type Spool } from "./relay/index.ts";
import { rememberLogins } from "./login-cache.ts";
import { plaintextAuthAllowed } from "./network-policy.ts";

export interface SubmissionOptions {
  readonly directory: Directory;
  /** The current users list (reloaded on change). */
  readonly users: () => UsersList;
  readonly spool: Spool;
  readonly queue: Pick<Queue, "add">;
  /** Our host name, for the Received header. */
  readonly hostname: string;
  /** Client networks that may AUTH without TLS besides loopback. */
  readonly trustedNetworks: BlockList;
  /** A directory that has not answered by then is "unavailable" (454), whatever its own timeouts. */
  readonly authTimeoutMs?: number;
  /** The queue's clock, so arrival times and retry deadlines agree (tests move it by hand). */
  readonly now?: () => number;
  /** Failed AUTH allowed per client address, and per account, in one window (password guessing). */
  readonly authFailures?: { readonly perIp: number; readonly perAccount: number; readonly windowMs: number };
  /** How long a successful login is remembered (login-cache.ts; default a minute); 0 asks the directory every time. */
  readonly loginCacheMs?: number;
  /** Inbound's forward account (outbound.forwardSecretFile); absent: none. */
  readonly forward?: { readonly secret: ForwardSecret; readonly policy: ForwardPolicy };
  readonly logger: Logger;
}

/** Header bytes read before the From: check decides; far above any real header block (Postfix keeps 100 KiB). */
const MAX_HEADER_BYTES = 256 * 1024;

/** Dot-atom local part (RFC 5322) or UTF-8 (SMTPUTF8); no quoted strings, which could hide another "@domain". */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;

/** Why a recipient cannot be relayed to, or undefined. */
export function recipientProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 1) return "a recipient needs a local part and a domain";
  const local = address.slice(0, at);
  const domain = address
    .slice(at + 1)
    .toLowerCase()
    .replace(/\.$/, "");
  if (local.length > 64 || !LOCAL_PART.test(local)) return "quoted or unusual local parts are not relayed";
  if (domain.startsWith("[")) return "address literals are not relayed";
  return domainProblem(domain);
}

export function createSubmissionBackend(options: SubmissionOptions): DeliveryBackend {
  const { directory, users, spool, queue, hostname, logger } = options;

  const requireUser = (session: SessionInfo): string => {
    if (session.user === undefined) throw permFail(530, "5.7.0", "Authentication required");
    return session.user;
  };

  const { forward } = options;
  const forwarding = (session: SessionInfo) => forward !== undefined && session.user === FORWARD_LOGIN;
  // One implementation for both daemons (mailservers/core/authenticate.ts).
  const authenticateUser = createAuthenticator({
    directory: rememberLogins(directory, {
      ttlMs: options.loginCacheMs ?? 60_000,
      maxEntries: 1000,
      now: options.now ?? Date.now,
    }),
    users,
    logger,
    plaintextAllowed: (session) => plaintextAuthAllowed(session.remoteAddress, options.trustedNetworks),
    ...(options.authTimeoutMs !== undefined ? { timeoutMs: options.authTimeoutMs } : {}),
    ...(options.authFailures ? { failures: options.authFailures } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

  return {
    // The forward account never reaches the directory; its login is no uid there.
    async authenticate(login, password, session) {
      if (!forward || login !== FORWARD_LOGIN) return authenticateUser(login, password, session);
      if (!session.secure && !plaintextAuthAllowed(session.remoteAddress, options.trustedNetworks))
        throw permFail(538, "5.7.11", "Encryption required: use STARTTLS first");
      const ok = isForwardPassword(password, forward.secret);
      if (!ok) logger.warn({ session: session.id, remote: session.remoteAddress }, "forward account: wrong secret");
      return ok ? FORWARD_LOGIN : undefined;
    },

    async checkSender(address: string, session: SessionInfo): Promise<void> {
      if (forwarding(session)) return forward!.policy.checkSender(address);
      checkSubmissionSender(address, requireUser(session), users());
    },

    async checkRecipient(address: string, session: SessionInfo): Promise<void> {
      if (forwarding(session)) return forward!.policy.checkRecipient(address);
      requireUser(session);
      const problem = recipientProblem(address);
      if (problem) throw permFail(553, "5.1.3", `Recipient <${address}> refused: ${problem}`);
    },

    async deliver(envelope: Envelope, message: Readable): Promise<string> {
      const user = requireUser(envelope.session);
      let record;
      try {
        // Who the message says it is from is judged before anything is kept; the body is not read for it.
        const block = await readHeaderBlock(message, MAX_HEADER_BYTES);
        // A forward keeps its author's From:; its recipients are the policy's to name.
        const recipients = forwarding(envelope.session)
          ? await forward!.policy.recipientsOf(envelope.mailFrom, envelope.recipients)
          : envelope.recipients;
        const { hasFrom } = forwarding(envelope.session)
          ? { hasFrom: true }
          : checkHeaderIdentity(block.header, user, users());
        const added = hasFrom ? "" : `From: <${envelope.mailFrom}>\r\n`;
        record = await spool.accept(
          {
            from: envelope.mailFrom,
            recipients,
            arrival: options.now?.() ?? envelope.receivedAt.getTime(),
            user,
          },
          block.message,
          envelope.id,
          Buffer.from(receivedHeader(envelope, hostname) + added, "utf8"),
        );
      } catch (err) {
        if (err instanceof SmtpError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        logger.error({ id: envelope.id, err: (err as Error).message }, "cannot spool message");
        if (code === "ENOSPC" || code === "EDQUOT")
          throw tempFail(452, "4.3.1", "Insufficient system storage, try again later");
        throw tempFail(451, "4.3.0", "Temporary local problem, please try again later");
      }
      // Durable from here: a failure to schedule it now is fixed by the next start.
      await queue
        .add(record)
        .catch((err: unknown) =>
          logger.error({ id: record.id, err: (err as Error).message }, "spooled but not scheduled"),
        );
      return `2.0.0 Ok: queued as ${record.id}`;
    },
  };
}
