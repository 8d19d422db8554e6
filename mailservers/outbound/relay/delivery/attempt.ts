// One SMTP session at one address, through nodemailer's SMTPConnection: open it (connect,
// EHLO, STARTTLS, AUTH), run a transaction on it (MAIL, RCPT, DATA) and turn every failure
// into per-recipient results or into "try the next address". Nothing here throws for a
// delivery failure.
import { isIP } from "node:net";
import type { Readable } from "node:stream";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Logger } from "pino";
import type { FailureKind } from "./classify.ts";
import { EncodingConnection } from "./encoding-connection.ts";
import { failed, forEveryone, fromReply, type Answerer, type RecipientResult } from "./recipient-results.ts";
import type { Target } from "./routing.ts";
import { oneLine, replyCodes } from "./smtp-reply.ts";

export interface SessionSettings {
  /** Name sent in EHLO. */
  ehloName: string;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  commandTimeoutMs: number;
  /** Inactivity allowed between the message's last byte and the reply to it (RFC 5321 4.5.3.2.6: 10 minutes). */
  dataDoneTimeoutMs: number;
  /** Trust anchors for "verify" instead of the system's (tests, private CAs). */
  tlsCa?: string | readonly string[];
}

/** Either the server answered (the results are final for this try), or try the next address. */
export type Attempt =
  | { kind: "answered"; results: RecipientResult[] }
  | {
      kind: "next";
      failure: FailureKind;
      response: string;
      host: string;
      code?: number;
      enhanced?: string;
      /** For failure "tls-required": what went wrong with TLS (no STARTTLS, the certificate). */
      tlsError?: string;
    };

export interface TransactionEnvelope {
  /** Recipient domain, for messages. */
  domain: string;
  /** "" for the null sender. */
  mailFrom: string;
  recipients: readonly string[];
}

interface SmtpFailure extends Error {
  code?: string;
  /** The system's or TLS's own code (such as ERR_TLS_CERT_ALTNAME_INVALID) where nodemailer set its own in `code`. */
  originalCode?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  rejectedErrors?: SmtpFailure[];
}

/** A host name or an address literal, so nothing but a name reaches the EHLO line. */
export function ehloNameProblem(name: string): string | undefined {
  if (/^\[(IPv6:[0-9a-f:.]+|[0-9.]+)\]$/i.test(name)) return undefined;
  if (
    name.length <= 253 &&
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(name)
  )
    return undefined;
  return `EHLO name ${JSON.stringify(name)} is not a host name or address literal`;
}

/** "mx.example.org [192.0.2.1]", or the address alone when it is its own name. */
export function labelOf(target: Target): string {
  return target.name === target.host ? target.host : `${target.name} [${target.host}]`;
}

/** A connection not yet opened, so that it can be aborted (close) while it connects. */
export function createConnection(target: Target, settings: SessionSettings): SMTPConnection {
  const required = target.tls !== "opportunistic";
  const connection = new EncodingConnection({
    host: target.host,
    port: target.port,
    secure: target.secure,
    name: settings.ehloName,
    ...(isIP(target.name) ? {} : { servername: target.name }),
    connectionTimeout: settings.connectTimeoutMs,
    greetingTimeout: settings.greetingTimeoutMs,
    socketTimeout: settings.commandTimeoutMs,
    dataDoneTimeout: settings.dataDoneTimeoutMs,
    socketCloseTimeout: 1000,
    requireTLS: required,
    opportunisticTLS: !required,
    tls: {
      rejectUnauthorized: target.tls === "verify",
      ...(settings.tlsCa === undefined ? {} : { ca: [settings.tlsCa].flat() }),
    },
    logger: false,
  });
  // Errors also come as callbacks; this listener keeps a late one from crashing the process.
  connection.on("error", () => {});
  return connection;
}

/**
 * Connects (greeting, EHLO, STARTTLS) and logs in when the target has credentials.
 * Undefined when the session is ready for a transaction; otherwise what this address gave.
 */
export async function openSession(
  connection: SMTPConnection,
  target: Target,
  envelope: TransactionEnvelope,
  log: Logger,
): Promise<Attempt | undefined> {
  const label = labelOf(target);
  try {
    await step(connection, (done) => connection.connect((err) => done(err)));
  } catch (err) {
    const e = err as SmtpFailure;
    const response = `${label}: ${oneLine(e.response ?? e.message)}`;
    log.info({ host: label, err: e.message }, "connection failed, trying the next address");
    // A failed handshake comes as a socket error while nodemailer is still upgrading.
    const upgrading = (connection as unknown as { upgrading?: boolean }).upgrading === true;
    if ((e.code === "ETLS" || upgrading) && target.tls !== "opportunistic") {
      return {
        kind: "next",
        failure: "tls-required",
        response: `TLS required for ${envelope.domain} but not available: ${response}`,
        host: label,
        tlsError: [e.originalCode, e.message].filter(Boolean).join(": "),
      };
    }
    return { kind: "next", failure: "connection", response, host: label, ...replyCodes(e.response) };
  }
  if (!target.auth) return undefined;
  try {
    const auth = { user: target.auth.user, pass: target.auth.pass };
    await step(connection, (done) => connection.login(auth, (err) => done(err)));
    return undefined;
  } catch (err) {
    // Wrong relay credentials are our configuration, not the recipient's fault: keep the mail.
    const e = err as SmtpFailure;
    const refused = failed("connection", `relay host ${label} refused our login: ${oneLine(e.response ?? e.message)}`, {
      host: label,
    });
    return { kind: "answered", results: forEveryone(envelope.recipients, refused) };
  }
}

/** What one transaction gave, and what may be done with its session. */
export interface Transaction {
  results: RecipientResult[];
  /** The server took the message (250 after DATA) and the session is still open: it may carry the next one. */
  reusable: boolean;
  /**
   * The session was lost (closed, reset, or 421) before the server accepted DATA, so it cannot
   * have the message: sending it on another session makes no duplicate.
   */
  lostBeforeData: boolean;
}

/** MAIL, RCPT, DATA on an open session; per-recipient results. `message` opens the bytes to send. */
export async function runTransaction(
  connection: SMTPConnection,
  envelope: TransactionEnvelope,
  message: () => Readable,
  label: string,
): Promise<Transaction> {
  const by: Answerer = { host: label, tls: connection.secure };
  const outcome = (results: RecipientResult[], more: Partial<Transaction> = {}): Transaction => ({
    results,
    reusable: false,
    lostBeforeData: false,
    ...more,
  });
  const unreadable = (why: string) =>
    outcome(
      forEveryone(envelope.recipients, {
        status: "deferred",
        response: `cannot read the queued message: ${why}`,
        ...by,
      }),
    );
  let stream: Readable;
  try {
    stream = message();
  } catch (err) {
    return unreadable((err as Error).message);
  }
  try {
    let info: SMTPConnection.SentMessageInfo | undefined;
    await step(connection, (done) =>
      connection.send(
        { from: envelope.mailFrom, to: [...envelope.recipients], use8BitMime: true },
        stream,
        (err, sent) => {
          info = sent;
          done(err);
        },
      ),
    );
    const sent = info as SMTPConnection.SentMessageInfo | undefined;
    if (!sent) throw Object.assign(new Error("no reply to the message"), { code: "ECONNECTION" });
    const rejected = new Map(
      (sent.rejectedErrors ?? []).map((e) => [(e as SmtpFailure).recipient ?? "", e as SmtpFailure]),
    );
    const results = envelope.recipients.map((recipient) => {
      const error = rejected.get(recipient);
      return error
        ? fromReply(recipient, error.response ?? error.message, false, by)
        : fromReply(recipient, sent.response, true, by);
    });
    return outcome(results, { reusable: isOpen(connection) });
  } catch (err) {
    // nodemailer pipes the message into the connection only once the server has answered
    // DATA with 354; until then the stream has never flowed.
    const beforeData = stream.readableFlowing === null;
    stream.destroy();
    const e = err as SmtpFailure;
    if (e.code === "ESTREAM") return unreadable(e.message);
    if (e.code === "EMESSAGE" && e.command === "MAIL FROM" && e.responseCode === undefined) {
      // Larger than the server's advertised SIZE: it will not get smaller.
      return outcome(
        forEveryone(envelope.recipients, {
          ...failed("smtp", `${label}: ${e.message}`, { code: 552, enhanced: "5.3.4" }),
          ...by,
        }),
      );
    }
    const lost = e.code === "ECONNECTION" || e.code === "ESOCKET" || e.responseCode === 421;
    if (e.responseCode === undefined || e.code === "ECONNECTION" || e.code === "ESOCKET" || e.code === "ETIMEDOUT") {
      // Lost mid-transaction: the outcome is unknown, so nobody counts as delivered.
      return outcome(
        forEveryone(envelope.recipients, { ...failed("connection", `${label}: ${oneLine(e.message)}`), ...by }),
        { lostBeforeData: lost && beforeData },
      );
    }
    // Rejections from RCPT are known per recipient; the rest share the failing reply.
    const rejected = new Map(rejectedErrorsOf(e, connection).map((r) => [r.recipient ?? "", r]));
    const reply = e.response ?? e.message;
    const results = envelope.recipients.map((recipient) => {
      const own = rejected.get(recipient);
      return fromReply(recipient, own ? (own.response ?? own.message) : reply, false, by);
    });
    return outcome(results, { lostBeforeData: lost && beforeData });
  }
}

/**
 * RSET on a session that carried an earlier message, which also shows that it still works.
 * False when it does not answer 250 within `timeoutMs`: the session is then of no further use.
 */
export async function resetSession(connection: SMTPConnection, timeoutMs: number): Promise<boolean> {
  const timer = setTimeout(() => connection.close(), timeoutMs);
  try {
    await step(connection, (done) => connection.reset((err) => done(err)));
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function isOpen(connection: SMTPConnection): boolean {
  return !connection.destroyed;
}

/** Calls `gone` when the session ends (the server hung up, an error, or close()); returns a function that stops watching. */
export function watchEnd(connection: SMTPConnection, gone: () => void): () => void {
  connection.once("end", gone);
  return () => connection.off("end", gone);
}

/** Lets the session go: QUIT when it is still in order, and the socket closed a second later either way. */
export function endSession(connection: SMTPConnection, quit: boolean): void {
  if (quit) connection.quit();
  // quit() ends a finished session by itself; close() makes sure a broken one goes too.
  setTimeout(() => connection.close(), 1000).unref();
}

/**
 * Runs one nodemailer call to its callback. Some failures (a refused connection, a socket
 * error during login) only come as an 'error' or 'end' event, so those settle it too.
 */
function step(connection: SMTPConnection, run: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      connection.off("error", finish);
      connection.off("end", onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onEnd = () => finish(Object.assign(new Error("connection closed unexpectedly"), { code: "ECONNECTION" }));
    connection.on("error", finish);
    connection.on("end", onEnd);
    run(finish);
  });
}

/** RCPT rejections: on the error when all were refused, else kept by the connection (DATA failed after some were refused). */
function rejectedErrorsOf(e: SmtpFailure, connection: SMTPConnection): SmtpFailure[] {
  if (e.rejectedErrors) return e.rejectedErrors;
  // nodemailer does not hand these over when DATA itself fails; read its envelope state.
  const envelope = (connection as unknown as { _envelope?: { rejectedErrors?: SmtpFailure[] } })._envelope;
  return envelope?.rejectedErrors ?? [];
}
