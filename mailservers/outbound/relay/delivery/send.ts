// The sender's front door: delivers one message to one recipient domain. It routes the
// domain (routing.ts), then tries each address in turn (attempt.ts) until one answers the
// transaction, on a session kept from an earlier message when one is idle
// (connection-cache.ts). Returns one result per recipient and never throws for a delivery
// failure.
import type { Readable } from "node:stream";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Logger } from "pino";
import { silentLogger } from "../../../../lib/logger.ts";
import {
  createConnection,
  ehloNameProblem,
  endSession,
  isOpen,
  labelOf,
  openSession,
  resetSession,
  runTransaction,
  watchEnd,
  type Attempt,
  type Transaction,
} from "./attempt.ts";
import { createConnectionCache } from "./connection-cache.ts";
import { daneMismatch, peerChain, type Dane } from "./tls-policy/dane.ts";
import { createDkimSigner, type DkimKey, type DkimSigner } from "./dkim.ts";
import { normalizeLineEndings } from "./hygiene.ts";
import type { MtaSts } from "./tls-policy/mta-sts-cache.ts";
import type { MxResolver } from "./mx.ts";
import { failed, forEveryone, type RecipientResult } from "./recipient-results.ts";
import { createRouter, type IpFamily, type RelayHost, type Target, type TlsMode } from "./routing.ts";
import {
  createTlsReport,
  tlsResultOfError,
  tlsResultOfSession,
  type TlsReport,
  type TlsResultType,
} from "./tls-policy/tls-report.ts";

export type { IpFamily, RecipientResult, RelayHost, TlsMode };

export interface DeliveryOptions {
  resolver: MxResolver;
  /** Name sent in EHLO; a host name or an address literal. */
  ehloName: string;
  /** Destination port of MX hosts; 25 unless testing. */
  port?: number;
  ipFamily?: IpFamily;
  /** TCP connect timeout per address. */
  connectTimeoutMs?: number;
  /** Time for the server's greeting; RFC 5321 4.5.3.2 says 5 minutes. */
  greetingTimeoutMs?: number;
  /** Inactivity limit on a command reply, and while the message is sent (RFC 5321 4.5.3.2: 5 minutes). */
  commandTimeoutMs?: number;
  /** Inactivity limit on the reply to the message's final "."; twice commandTimeoutMs unless set (RFC 5321 4.5.3.2.6: 10 minutes). */
  dataDoneTimeoutMs?: number;
  /** TLS mode per recipient domain (lower case); absent domains are opportunistic. */
  tlsPolicy?: Readonly<Record<string, TlsMode>>;
  /** Send everything through this host instead of MX (networks that block port 25). */
  relayHost?: RelayHost;
  /** DKIM keys, or a signer built from them; the key is chosen by the sender's domain. */
  dkim?: readonly DkimKey[] | DkimSigner;
  /** Our own names: an MX with one of them is us (loop). Defaults to [ehloName]. */
  localNames?: readonly string[];
  /** Our own addresses: an MX resolving to one is us (loop). Defaults to this machine's interface addresses. */
  localAddresses?: readonly string[];
  /** Domains this system receives mail for: their MX may be us, which is local delivery, not a loop. */
  isLocalDomain?: (domain: string) => boolean;
  /** At most this many addresses are tried per delivery. */
  maxAddresses?: number;
  /** How long a session is kept open after a message for the next one to the same address; 0 opens one per message. */
  connectionIdleMs?: number;
  /** Most sessions kept open idle, over all destinations. */
  maxIdleConnections?: number;
  /** Honours the destinations' MTA-STS policies (RFC 8461), except for domains in tlsPolicy. */
  mtaSts?: MtaSts;
  /** Honours DANE (RFC 7672) where the resolver behind it validates DNSSEC, except for domains in tlsPolicy. */
  dane?: Dane;
  /** Counts TLS successes and failures under a policy, for TLS-RPT; the sender keeps its own when absent. */
  tlsReport?: TlsReport;
  /** Trust anchors for certificate checks instead of the system's (tests, private CAs). */
  tlsCa?: string | readonly string[];
  logger?: Logger;
}

export interface DeliveryJob {
  /** Recipient domain; every recipient is in it. */
  domain: string;
  /** Envelope sender; "" for the null sender <>. */
  mailFrom: string;
  recipients: readonly string[];
  /** Queue id, for logs. */
  envelopeId: string;
  /** Opens the raw RFC 5322 message (from the spool); called once per transaction tried. */
  message: () => Readable;
}

export interface Sender {
  /** One result per recipient, in order. Never throws for delivery failures. */
  deliver(job: DeliveryJob): Promise<RecipientResult[]>;
  /** Aborts connections in flight and closes idle ones; later deliveries defer. */
  close(): Promise<void>;
}

const DEFAULTS = {
  port: 25,
  ipFamily: "prefer-ipv6" as IpFamily,
  connectTimeoutMs: 30_000,
  greetingTimeoutMs: 300_000,
  commandTimeoutMs: 300_000,
  maxAddresses: 10,
  // Postfix's smtp_connection_cache_time_limit.
  connectionIdleMs: 2000,
  maxIdleConnections: 20,
};

/** Postfix's smtp_rset_timeout: a cached session that takes longer to answer RSET is replaced. */
const RSET_TIMEOUT_MS = 20_000;

export function createSender(options: DeliveryOptions): Sender {
  const problem = ehloNameProblem(options.ehloName);
  if (problem) throw new Error(problem);
  const merged = { ...options, ...DEFAULTS, ...definedOnly(options) };
  const settings = { ...merged, dataDoneTimeoutMs: options.dataDoneTimeoutMs ?? 2 * merged.commandTimeoutMs };
  const signer: DkimSigner | undefined =
    options.dkim === undefined
      ? undefined
      : "sign" in options.dkim
        ? options.dkim
        : createDkimSigner(options.dkim as readonly DkimKey[]);
  const tlsReport = options.tlsReport ?? createTlsReport();
  const router = createRouter({ ...settings, tlsReport });
  // Sessions in use (connecting or in a transaction), so that close() can cut them.
  const active = new Set<SMTPConnection>();
  const cache = createConnectionCache<SMTPConnection>({
    idleMs: settings.connectionIdleMs,
    maxIdle: settings.maxIdleConnections,
    dispose: (connection) => endSession(connection, true),
    watch: watchEnd,
  });
  let closed = false;

  /**
   * The message for the DATA encoder (encoding-connection.ts), which makes every line end in
   * CRLF on the wire. A DKIM signature must cover those very bytes, so signed mail gets its
   * CRLF lines before the signer reads it; unsigned mail is not passed over twice.
   */
  function outgoing(job: DeliveryJob): Readable {
    const source = job.message();
    let stream: Readable = source;
    if (signer) {
      const senderDomain = job.mailFrom.includes("@")
        ? job.mailFrom.slice(job.mailFrom.lastIndexOf("@") + 1)
        : options.ehloName;
      stream = signer.sign(normalizeLineEndings(source), senderDomain);
    }
    // pipe() does not pass a destroy upstream: when the message is not sent in full (refused
    // envelope, lost connection), the spool file must still be closed.
    stream.once("close", () => source.destroy());
    return stream;
  }

  /**
   * One address: on an idle session to it after RSET, else on a new one. A reused session
   * lost before the server accepted DATA has not got the message, so the transaction runs
   * once more on a new session; one lost later is not retried here (the queue retries), as
   * the server may have taken the message.
   */
  async function attempt(job: DeliveryJob, target: Target, log: Logger): Promise<Attempt> {
    const destination = destinationOf(target);
    const cached = await idleSession(destination);
    if (cached) {
      const reused = await transaction(cached, destination, job, target);
      if (!reused.lostBeforeData || closed) return { kind: "answered", results: reused.results };
      log.info({ host: labelOf(target) }, "reused connection lost before the message was sent; sending on a new one");
    }
    if (closed) return { kind: "answered", results: shuttingDown(job) };
    const connection = createConnection(target, settings);
    active.add(connection);
    const refused = await openSession(connection, target, job, log);
    active.delete(connection);
    const daneProblem =
      !refused && target.dane ? daneMismatch(target.dane, peerChain(connection), target.name) : undefined;
    if (target.sts) {
      const tls = refused
        ? refused.kind === "next" && refused.tlsError !== undefined
          ? tlsResultOfError(refused.tlsError)
          : undefined
        : target.dane
          ? daneProblem
            ? "validation-failure"
            : "success"
          : tlsResultOfSession(connection);
      if (tls) noteSts(job.domain, target, tls, log);
    }
    if (daneProblem) {
      // Nothing but EHLO went over this session.
      endSession(connection, true);
      log.warn(
        { host: labelOf(target), err: daneProblem },
        "DANE: certificate does not match; trying the next address",
      );
      return {
        kind: "next",
        failure: "tls-required",
        response: `DANE: ${labelOf(target)}: ${daneProblem}`,
        host: labelOf(target),
      };
    }
    if (refused) {
      endSession(connection, false);
      return refused;
    }
    return { kind: "answered", results: (await transaction(connection, destination, job, target)).results };
  }

  /** Counts a session's TLS under the domain's MTA-STS policy, and logs a failure. */
  function noteSts(domain: string, target: Target, result: TlsResultType | "success", log: Logger): void {
    const { mode, id } = target.sts!;
    tlsReport.record({ domain, policy: "sts", mode, result, mx: target.name });
    if (result === "success") return;
    log.warn(
      { mx: target.name, address: target.host, mode, id, result },
      mode === "enforce"
        ? "MTA-STS: TLS failed, so this MX host is not used"
        : "MTA-STS testing: TLS failed; delivering anyway, as the policy only tests",
    );
  }

  /** An idle session to this destination that answered RSET, or undefined. */
  async function idleSession(destination: string): Promise<SMTPConnection | undefined> {
    const connection = cache.take(destination);
    if (!connection) return undefined;
    active.add(connection);
    const ready = await resetSession(connection, Math.min(settings.commandTimeoutMs, RSET_TIMEOUT_MS));
    active.delete(connection);
    if (ready) return connection;
    endSession(connection, false);
    return undefined;
  }

  /** Runs the transaction, then keeps the session for the next message when it is in order, else ends it. */
  async function transaction(
    connection: SMTPConnection,
    destination: string,
    job: DeliveryJob,
    target: Target,
  ): Promise<Transaction> {
    active.add(connection);
    const result = await runTransaction(connection, job, () => outgoing(job), labelOf(target));
    active.delete(connection);
    if (result.reusable && isOpen(connection) && !closed) cache.put(destination, connection);
    else endSession(connection, true);
    return result;
  }

  return {
    async deliver(job) {
      const log = (options.logger ?? silentLogger()).child({ envelopeId: job.envelopeId, domain: job.domain });
      if (closed) return shuttingDown(job);
      if (job.recipients.length === 0) return [];

      const route = await router.route(job.domain, log);
      if ("failure" in route) {
        const { kind, response, ...codes } = route.failure;
        return forEveryone(job.recipients, failed(kind, response, codes));
      }
      let last: Extract<Attempt, { kind: "next" }> | undefined;
      for (const target of route.targets) {
        if (closed) break;
        const result = await attempt(job, target, log);
        if (result.kind === "answered") {
          log.info(
            { host: target.name, address: target.host, statuses: result.results.map((r) => r.status) },
            "delivery attempt answered",
          );
          return result.results;
        }
        last = result;
      }
      const response = last
        ? `no MX host of ${job.domain} could be reached; last: ${last.response}`
        : "delivery is shutting down";
      const failure = last?.failure === "tls-required" ? "tls-required" : "connection";
      return forEveryone(
        job.recipients,
        failed(failure, response, {
          code: 451,
          enhanced: failure === "tls-required" ? "4.7.5" : "4.4.1",
          ...(last ? { host: last.host } : {}),
        }),
      );
    },

    async close() {
      closed = true;
      for (const connection of active) connection.close();
      active.clear();
      cache.close();
    },
  };
}

function shuttingDown(job: DeliveryJob): RecipientResult[] {
  return forEveryone(job.recipients, { status: "deferred", response: "delivery is shutting down" });
}

/** Sessions are shared only between messages that would open the very same one. */
function destinationOf(target: Target): string {
  return JSON.stringify([
    target.host,
    target.port,
    target.name,
    target.secure,
    target.tls,
    target.auth?.user ?? null,
    target.dane?.map((r) => r.data.toString("hex")) ?? null,
  ]);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
