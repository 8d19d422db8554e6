// The relay DeliveryBackend: the submission policy (who may send, from which address)
// in front of the spool. Authenticated users only; MAIL FROM must be one of the sender's
// own mailboxes in the users list; the message is on disk before the 250.
import type { BlockList } from "node:net";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { domainProblem, type UsersList } from "../../config/users-list.ts";
import type { Directory } from "../../directory/types.ts";
import { createAuthenticator } from "../core/authenticate.ts";
import { SmtpError, permFail, tempFail, type DeliveryBackend, type Envelope, type SessionInfo } from "../core/types.ts";
import { receivedHeader } from "./relay/hygiene.ts";
import type { Queue } from "./relay/queue.ts";
import type { Spool } from "./relay/spool.ts";
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
  readonly logger: Logger;
}

/** Dot-atom local part (RFC 5322) or UTF-8 (SMTPUTF8); no quoted strings, which could hide another "@domain". */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;

/** Why a recipient cannot be relayed to, or undefined. */
export function recipientProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 1) return "a recipient needs a local part and a domain";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase().replace(/\.$/, "");
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

  return {
    // One implementation for both daemons (mailservers/core/authenticate.ts).
    authenticate: createAuthenticator({
      directory: rememberLogins(directory, { ttlMs: options.loginCacheMs ?? 60_000, maxEntries: 1000, now: options.now ?? Date.now }),
      users, logger, plaintextAllowed: (session) => plaintextAuthAllowed(session.remoteAddress, options.trustedNetworks),
      ...(options.authTimeoutMs !== undefined ? { timeoutMs: options.authTimeoutMs } : {}),
      ...(options.authFailures ? { failures: options.authFailures } : {}),
      ...(options.now ? { now: options.now } : {}),
    }),

    async checkSender(address: string, session: SessionInfo): Promise<void> {
      const user = requireUser(session);
      if (address === "") throw permFail(553, "5.7.1", "The null sender <> is for bounces; send from one of your addresses");
      const list = users();
      const mailbox = list.byAddress(address);
      if (mailbox?.owner === user) return;
      // Named so the owner knows what is missing; a claim proves nothing until its DNS does.
      const pending = list.pendingByAddress(address);
      if (pending?.owner === user) {
        throw permFail(553, "5.7.1", `Sender <${address}> is not usable yet: ${user} has not proven control of ${pending.domain} (publish the TXT record the web form shows)`);
      }
      throw permFail(553, "5.7.1", `Sender <${address}> is not an address of ${user}`);
    },

    async checkRecipient(address: string, session: SessionInfo): Promise<void> {
      requireUser(session);
      const problem = recipientProblem(address);
      if (problem) throw permFail(553, "5.1.3", `Recipient <${address}> refused: ${problem}`);
    },

    async deliver(envelope: Envelope, message: Readable): Promise<string> {
      const user = requireUser(envelope.session);
      const received = Buffer.from(receivedHeader(envelope, hostname), "utf8");
      let record;
      try {
        record = await spool.accept(
          { from: envelope.mailFrom, recipients: envelope.recipients, arrival: options.now?.() ?? envelope.receivedAt.getTime(), user },
          message,
          envelope.id,
          received,
        );
      } catch (err) {
        if (err instanceof SmtpError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        logger.error({ id: envelope.id, err: (err as Error).message }, "cannot spool message");
        if (code === "ENOSPC" || code === "EDQUOT") throw tempFail(452, "4.3.1", "Insufficient system storage, try again later");
        throw tempFail(451, "4.3.0", "Temporary local problem, please try again later");
      }
      // Durable from here: a failure to schedule it now is fixed by the next start.
      await queue.add(record).catch((err: unknown) => logger.error({ id: record.id, err: (err as Error).message }, "spooled but not scheduled"));
      return `2.0.0 Ok: queued as ${record.id}`;
    },
  };
}
