// The SMTP front end both daemons share: the one place that wires smtp-server's hooks.
// It turns a session into a plain SessionInfo / Envelope and asks a DeliveryBackend
// (store for inbound, relay for outbound); nothing here knows where mail goes.
//
//   import { createSmtpFrontEnd, listenSmtp } from "./index.ts";
//   const frontEnd = createSmtpFrontEnd({
//     backend,                       // DeliveryBackend: checkSender, checkRecipient, deliver, authenticate?
//     logger,                        // pino; one child per session
//     hostname: "mx.example.org",
//     maxMessageSize: 50 * 1024 ** 2,
//     tls: { key, cert },            // PEM; omit and STARTTLS is off, "/tls" listeners refused
//     auth: { enabled: true, required: true, allowInsecure: (s) => s.remoteAddress === "127.0.0.1" },
//     limits: { idleTimeoutMs: 300_000 },
//   });
//   const listening = await listenSmtp(frontEnd, ["127.0.0.1:0", "[::1]:0/tls"]);
//   // or AUTH on some listeners only (inbound: 587 and 465, never 25):
//   await listenSmtp(frontEnd, specs, (spec) => spec.port !== 25);
//   listening.addresses[0].port;     // the bound port
//   await listening.close();
//
// Replies: an SmtpError from the backend is sent as is ("550 5.1.1 ..."); anything else
// is logged and answered 451 4.3.0, never smtp-server's default 450 or an error text.
// Enhanced status codes are part of our reply texts (smtp-server's own are off, since it
// would prefix its guess to ours).
//
// Addresses are judged by the bytes sent (address-bytes.ts) before the backend is asked:
// invalid UTF-8 is 553 5.1.7 / 5.1.3, a non-ASCII address without SMTPUTF8 550 / 553 5.6.7.
import type { Logger } from "pino";
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from "smtp-server";
import { addressProblem } from "./address-bytes.ts";
import { newMessageId } from "./ids.ts";
import { DEFAULT_LIMITS, type SmtpLimits } from "./limits.ts";
import { MessageGuard } from "./message-guard.ts";
import { SmtpError, permFail, tempFail, type DeliveryBackend, type Envelope, type SessionInfo } from "./types.ts";
import { instrumentConnection } from "./connection-guard.ts";
import { SessionCredentials } from "./credentials.ts";
import { SILENT_OBSERVER, type SmtpObserver, type SmtpStage } from "./smtp-observer.ts";

export interface SmtpAuthOptions {
  /** Offer AUTH PLAIN/LOGIN, checked by backend.authenticate. */
  readonly enabled: boolean;
  /** MAIL FROM needs a prior AUTH (530 5.7.0). Default: true when enabled. */
  readonly required?: boolean;
  /** AUTH is offered without TLS only where this says so (e.g. a loopback client). */
  readonly allowInsecure?: (session: SessionInfo) => boolean;
  /** Keep the login in the session's memory (SessionInfo.credentials) for a backend that logs in elsewhere as the same user. */
  readonly keepCredentials?: boolean;
}

export interface SmtpFrontEndOptions {
  readonly backend: DeliveryBackend;
  readonly logger: Logger;
  /** Our name in the greeting, EHLO reply and logs. */
  readonly hostname: string;
  /** Largest message, advertised as SIZE and enforced whether declared or not. */
  readonly maxMessageSize: number;
  /**
   * SIZE for EHLO (and smtp-server's check of a declared SIZE at MAIL) on listeners that do
   * not offer AUTH, read at each use: what the mailboxes behind an MX can take now. Capped
   * at maxMessageSize, at least 1 (SIZE 0 would mean no limit). Default maxMessageSize.
   */
  readonly advertisedSize?: () => number;
  /** PEM key and certificate; without them no STARTTLS and no implicit TLS (never smtp-server's built-in key). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  readonly auth?: SmtpAuthOptions;
  readonly limits?: Partial<SmtpLimits>;
  /** Told of each session, refusal, accepted message and AUTH outcome (the daemon's metrics). */
  readonly observer?: SmtpObserver;
}

export interface SmtpFrontEnd {
  readonly hostname: string;
  readonly limits: SmtpLimits;
  /** Sessions open now, over every listener. */
  readonly sessions: number;
  /** A new smtp-server wired to this front end; `implicitTls` for a 465-style listener, `offersAuth` false for one that never offers AUTH. */
  createServer(implicitTls: boolean, offersAuth?: boolean): SMTPServer;
}

interface SessionState {
  readonly log: Logger;
  counted: boolean;
  messages: number;
  /** The MAIL or RCPT line smtp-server is handling, as sent; taken by its hook. */
  addressLine?: Buffer | undefined;
  /** The login, when auth.keepCredentials asks for it; gone with the session. */
  credentials?: SessionCredentials;
}

/** The SMTP reply for a failure: an SmtpError as is, anything else 451 4.3.0 (logged). */
export function toReply(err: unknown, log: Logger, what: string): SmtpError {
  if (err instanceof SmtpError) return err;
  log.error({ err }, `${what} failed`);
  return tempFail(451, "4.3.0", "Temporary local problem, please try again later");
}

export function sessionInfo(s: SMTPServerSession, credentials?: SessionCredentials): SessionInfo {
  const user = typeof s.user === "string" ? s.user : undefined;
  return {
    id: s.id,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    localAddress: s.localAddress,
    localPort: s.localPort,
    clientHostname: typeof s.hostNameAppearsAs === "string" ? s.hostNameAppearsAs : "",
    secure: s.secure,
    ...(user !== undefined ? { user } : {}),
    ...(user !== undefined && credentials?.user === user ? { credentials } : {}),
  };
}

/**
 * A refusal's fields in its log line; `event` marks the lines the daily traffic summary counts
 * (services/report/traffic), with accepted, delivered, deferred and bounced.
 */
function refusal(stage: SmtpStage, reply: SmtpError): Record<string, unknown> {
  return { event: "refused", stage, reply: reply.message, code: reply.responseCode };
}

/** The line the hook now answers, once: a later hook never sees a stale one. */
function takeAddressLine(state: SessionState): Buffer | undefined {
  const line = state.addressLine;
  state.addressLine = undefined;
  return line;
}

const smtpUtf8 = (address: SMTPServerAddress | false): boolean =>
  !!address && !!address.args && address.args.SMTPUTF8 === true;

function declaredSize(address: SMTPServerAddress | false): number | undefined {
  const size = address === false ? undefined : address.args ? address.args.SIZE : undefined;
  return typeof size === "string" && /^\d{1,20}$/.test(size) ? Number(size) : undefined;
}

/** Runs an async hook and answers smtp-server's callback exactly once. */
function settle<T>(
  work: () => Promise<T>,
  callback: (err: SmtpError | null, value?: T) => void,
  log: Logger,
  what: string,
): void {
  work().then(
    (value) => callback(null, value),
    (err: unknown) => callback(toReply(err, log, what)),
  );
}

export function createSmtpFrontEnd(options: SmtpFrontEndOptions): SmtpFrontEnd {
  const { backend, logger, hostname, maxMessageSize } = options;
  const limits: SmtpLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const auth = options.auth?.enabled && backend.authenticate ? options.auth : undefined;
  const authRequired = auth ? (auth.required ?? true) : false;
  const observer = options.observer ?? SILENT_OBSERVER;
  const states = new WeakMap<SMTPServerSession, SessionState>();
  const perIp = new Map<string, number>();
  let open = 0;

  /** `reply`, counted by the observer at `stage`. */
  const refusedAt = (stage: SmtpStage, reply: SmtpError): SmtpError => {
    observer.refused(stage, reply);
    return reply;
  };

  const stateOf = (session: SMTPServerSession): SessionState => {
    let state = states.get(session);
    if (!state) {
      state = { log: logger.child({ session: session.id }), counted: false, messages: 0 };
      states.set(session, state);
    }
    return state;
  };
  const insecureAuthAllowed = (session: SMTPServerSession) => auth?.allowInsecure?.(sessionInfo(session)) ?? false;

  // Hooks that differ per listener: one that never offers AUTH (inbound's 25) gets `offersAuth` false.
  const connectHook =
    (offersAuth: boolean) =>
    (session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
      const state = stateOf(session);
      const ip = session.remoteAddress;
      if (open >= limits.maxConnections) {
        const reply = tempFail(421, "4.3.2", "Too many connections, try again later");
        state.log.warn({ remote: ip, open, ...refusal("CONNECT", reply) }, "refused: too many connections");
        return callback(refusedAt("CONNECT", reply));
      }
      const fromIp = perIp.get(ip) ?? 0;
      if (fromIp >= limits.maxConnectionsPerIp) {
        const reply = tempFail(421, "4.7.0", "Too many connections from your address, try again later");
        state.log.warn(
          { remote: ip, fromIp, ...refusal("CONNECT", reply) },
          "refused: too many connections from this address",
        );
        return callback(refusedAt("CONNECT", reply));
      }
      open++;
      perIp.set(ip, fromIp + 1);
      state.counted = true;
      observer.connected();
      // AUTH is listed in EHLO only where it may be used: over TLS, or where the predicate allows.
      // (After STARTTLS the listener's own list applies again: with AUTH for an auth listener.)
      if (offersAuth && !session.secure && !insecureAuthAllowed(session))
        session.disabledCommands = [...baseDisabled(true), "AUTH"];
      state.log.info(
        {
          remote: ip,
          port: session.remotePort,
          local: `${session.localAddress}:${session.localPort}`,
          secure: session.secure,
        },
        "connect",
      );
      callback();
    };

  const onSecure = (_socket: unknown, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    delete session.disabledCommands;
    callback();
  };

  const onClose = (session: SMTPServerSession): void => {
    const state = states.get(session);
    if (!state?.counted) return;
    state.counted = false;
    open--;
    const left = (perIp.get(session.remoteAddress) ?? 1) - 1;
    if (left > 0) perIp.set(session.remoteAddress, left);
    else perIp.delete(session.remoteAddress);
    state.log.debug({ messages: state.messages }, "close");
  };

  const authHook =
    (offersAuth: boolean) =>
    (
      credentials: SMTPServerAuthentication,
      session: SMTPServerSession,
      callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
    ): void => {
      const state = stateOf(session);
      settle(
        async (): Promise<SMTPServerAuthenticationResponse> => {
          if (!auth || !offersAuth || !backend.authenticate) throw permFail(502, "5.5.1", "AUTH not available");
          if (!session.secure && !insecureAuthAllowed(session))
            throw permFail(538, "5.7.11", "Encryption required: use STARTTLS first");
          if (credentials.method !== "PLAIN" && credentials.method !== "LOGIN")
            throw permFail(504, "5.5.4", "Unrecognized authentication type");
          const username = credentials.username ?? "";
          const user = await backend.authenticate(username, credentials.password ?? "", sessionInfo(session));
          if (user === undefined) {
            // `remote` on this very line: the bans (services/bans) read it alone, not the session's connect.
            const reply = permFail(535, "5.7.8", "Authentication credentials invalid");
            state.log.info(
              { remote: session.remoteAddress, username, method: credentials.method, ...refusal("AUTH", reply) },
              "auth failed",
            );
            observer.authenticated("failed");
            return { message: reply.message, responseCode: reply.responseCode };
          }
          state.log.info({ user, method: credentials.method }, "authenticated");
          observer.authenticated("ok");
          if (auth.keepCredentials) state.credentials = new SessionCredentials(user, credentials.password ?? "");
          return { user };
        },
        (err, response) => {
          if (!err) return callback(null, response);
          const reply = err.responseCode === 451 ? tempFail(454, "4.7.0", "Temporary authentication failure") : err;
          if (reply.responseCode === 454) observer.authenticated("unavailable");
          callback(refusedAt("AUTH", reply));
        },
        state.log,
        "AUTH",
      );
    };

  const onMailFrom = (
    address: SMTPServerAddress,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void => {
    const state = stateOf(session);
    const line = takeAddressLine(state);
    settle(
      async () => {
        if (authRequired && typeof session.user !== "string") throw permFail(530, "5.7.0", "Authentication required");
        const problem = addressProblem("MAIL", line, address.address, smtpUtf8(address));
        if (problem) throw problem;
        await backend.checkSender(address.address, sessionInfo(session, state.credentials), declaredSize(address));
      },
      (err) => {
        state.log.info({ from: address.address, ...(err ? refusal("MAIL", err) : {}) }, err ? "MAIL refused" : "MAIL");
        callback(err && refusedAt("MAIL", err));
      },
      state.log,
      "MAIL FROM",
    );
  };

  const onRcptTo = (
    address: SMTPServerAddress,
    session: SMTPServerSession,
    callback: (err?: Error | null) => void,
  ): void => {
    const state = stateOf(session);
    const line = takeAddressLine(state);
    settle(
      async () => {
        const problem = addressProblem("RCPT", line, address.address, smtpUtf8(session.envelope.mailFrom));
        if (problem) throw problem;
        const accepted = session.envelope.rcptTo.map((r) => r.address);
        const again = accepted.some((a) => a.toLowerCase() === address.address.toLowerCase());
        if (!again && accepted.length >= limits.maxRecipients) {
          throw tempFail(452, "4.5.3", `Too many recipients: at most ${limits.maxRecipients} per message`);
        }
        await backend.checkRecipient(
          address.address,
          sessionInfo(session, state.credentials),
          accepted,
          declaredSize(session.envelope.mailFrom),
        );
      },
      (err) => {
        state.log.info({ to: address.address, ...(err ? refusal("RCPT", err) : {}) }, err ? "RCPT refused" : "RCPT");
        callback(err && refusedAt("RCPT", err));
      },
      state.log,
      "RCPT TO",
    );
  };

  const receive = async (
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    state: SessionState,
  ): Promise<string> => {
    const started = Date.now();
    const size = declaredSize(session.envelope.mailFrom);
    const envelope: Envelope = {
      id: newMessageId(),
      session: sessionInfo(session, state.credentials),
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
      recipients: session.envelope.rcptTo.map((r) => r.address),
      ...(size !== undefined ? { declaredSize: size } : {}),
      protocol: session.transmissionType || "SMTP",
      receivedAt: new Date(),
    };
    const guard = new MessageGuard({
      maxMessageSize,
      maxLineLength: limits.maxLineLength,
      maxReceivedHeaders: limits.maxReceivedHeaders,
    });
    let guardError: unknown;
    // The reply waits for the final dot, whatever the backend does with the message.
    const ended = new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
    });
    // The client went away mid-message: the backend's read fails, so nothing is kept.
    stream.once("error", (err) => guard.destroy(err));
    guard.once("error", (err) => {
      guardError = err;
      stream.unpipe(guard);
      stream.resume();
    });
    stream.pipe(guard);
    let text: string | undefined;
    let failure: unknown;
    try {
      text = await backend.deliver(envelope, guard);
    } catch (err) {
      failure = err;
    }
    if (!stream.readableEnded) {
      // The backend decided without reading it all; the rest of the message is drained.
      stream.unpipe(guard);
      stream.resume();
    }
    await ended;
    if (guardError instanceof SmtpError) {
      if (failure === undefined) state.log.error({ id: envelope.id }, "backend kept a message whose stream failed");
      failure = guardError;
    }
    const log = {
      id: envelope.id,
      from: envelope.mailFrom,
      to: envelope.recipients.length,
      bytes: guard.bytes,
      ms: Date.now() - started,
    };
    if (failure !== undefined) {
      const reply = toReply(failure, state.log, "DATA");
      state.log.info({ ...log, ...refusal("DATA", reply) }, "message refused");
      throw refusedAt("DATA", reply);
    }
    state.messages++;
    observer.accepted(guard.bytes);
    // `user`: the summary tells submitted mail from the Internet's (services/report/traffic).
    state.log.info(
      { ...log, event: "accepted", ...(envelope.session.user !== undefined ? { user: envelope.session.user } : {}) },
      "message accepted",
    );
    const reply = text ?? `Ok: queued as ${envelope.id}`;
    return /^2\.\d{1,3}\.\d{1,3} /.test(reply) ? reply : `2.0.0 ${reply}`;
  };

  const onData = (
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (err?: Error | null, message?: string) => void,
  ): void => {
    const state = stateOf(session);
    receive(stream, session, state).then(
      (message) => callback(null, message),
      (err: unknown) => callback(toReply(err, state.log, "DATA")),
    );
  };

  const baseDisabled = (offersAuth: boolean) => [...(options.tls ? [] : ["STARTTLS"]), ...(offersAuth ? [] : ["AUTH"])];

  return {
    hostname,
    limits,
    get sessions() {
      return open;
    },
    createServer(implicitTls: boolean, listenerAuth = true): SMTPServer {
      if (implicitTls && !options.tls) throw new Error("implicit TLS needs a certificate: set tls.cert and tls.key");
      const offersAuth = auth !== undefined && listenerAuth;
      const advertised = options.advertisedSize;
      const serverOptions: SMTPServerOptions = {
        name: hostname,
        banner: "SEMail",
        secure: implicitTls,
        ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
        size: maxMessageSize,
        disabledCommands: baseDisabled(offersAuth),
        authMethods: ["PLAIN", "LOGIN"],
        authOptional: true,
        // Our onAuth and the per-session AUTH listing decide; smtp-server would allow
        // cleartext AUTH anyway whenever STARTTLS is off.
        allowInsecureAuth: true,
        hideENHANCEDSTATUSCODES: true,
        disableReverseLookup: true,
        logger: false,
        socketTimeout: limits.idleTimeoutMs,
        closeTimeout: limits.closeTimeoutMs,
        maxCommandLength: limits.maxCommandLength,
        maxAllowedUnauthenticatedCommands: false,
        onConnect: connectHook(offersAuth),
        onSecure,
        onAuth: authHook(offersAuth),
        onMailFrom,
        onRcptTo,
        onData,
        onClose,
      };
      // smtp-server keeps this very object and reads `size` at each EHLO and MAIL.
      if (advertised && !offersAuth) {
        Object.defineProperty(serverOptions, "size", {
          enumerable: true,
          get: () => Math.max(1, Math.min(maxMessageSize, advertised())),
        });
      }
      const server = new SMTPServer(serverOptions);
      instrumentConnection(server, limits, logger, (session, line) => {
        stateOf(session).addressLine = line;
      });
      server.on("error", (err) => logger.warn({ err }, "smtp-server error"));
      return server;
    },
  };
}
