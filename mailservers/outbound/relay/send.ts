// Delivers one message to one recipient domain: MX route, then each host and address in
// turn until one answers the transaction, with nodemailer's SMTP client for the protocol.
// Returns one result per recipient and never throws for a delivery failure.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Logger } from "pino";
import { silentLogger } from "../../../lib/logger.ts";
import { classify, type FailureKind } from "./classify.ts";
import { createDkimSigner, type DkimKey, type DkimSigner } from "./dkim.ts";
import { normalizeLineEndings } from "./hygiene.ts";
import { RouteError, type MxAddress, type MxHost, type MxResolver } from "./mx.ts";

export type IpFamily = "prefer-ipv6" | "ipv4" | "ipv6";

/** opportunistic: STARTTLS when offered; require: defer unless STARTTLS works; verify: require plus a valid certificate for the MX name. */
export type TlsMode = "opportunistic" | "require" | "verify";

export interface RelayHost {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465 style); otherwise STARTTLS. */
  secure?: boolean;
  auth?: { user: string; pass: string };
  /** With auth: check the relay's certificate before sending the password (default true). */
  verifyTls?: boolean;
}

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
  /** Inactivity limit on any command reply, including the final one after DATA. */
  commandTimeoutMs?: number;
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
  /** Opens the raw RFC 5322 message (from the spool); may be called once per attempt. */
  message: () => Readable;
}

export interface RecipientResult {
  recipient: string;
  status: "delivered" | "deferred" | "bounced";
  /** The remote reply, or our own explanation when there was none. */
  response: string;
  code?: number;
  enhanced?: string;
  /** "mx.example.org [192.0.2.1]" of the host that answered or was tried last. */
  host?: string;
  /** True when the message went over TLS. */
  tls?: boolean;
}

export interface Sender {
  /** One result per recipient, in order. Never throws for delivery failures. */
  deliver(job: DeliveryJob): Promise<RecipientResult[]>;
  /** Aborts connections in flight; later deliveries defer. */
  close(): Promise<void>;
}

const DEFAULTS = {
  port: 25,
  ipFamily: "prefer-ipv6" as IpFamily,
  connectTimeoutMs: 30_000,
  greetingTimeoutMs: 300_000,
  commandTimeoutMs: 300_000,
  maxAddresses: 10,
};

/** A host name or an address literal, so nothing but a name reaches the EHLO line. */
export function ehloNameProblem(name: string): string | undefined {
  if (/^\[(IPv6:[0-9a-f:.]+|[0-9.]+)\]$/i.test(name)) return undefined;
  if (name.length <= 253 && /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(name)) return undefined;
  return `EHLO name ${JSON.stringify(name)} is not a host name or address literal`;
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** Hosts left after removing us and everything not better than us (RFC 5321 5.1); "loop" when nothing is left. */
export function withoutSelf(hosts: readonly MxHost[], localNames: ReadonlySet<string>, localAddresses: ReadonlySet<string>): MxHost[] | "loop" {
  const isSelf = (h: MxHost) => localNames.has(h.name) || h.addresses.some((a) => localAddresses.has(canonicalIp(a.address)));
  const self = hosts.filter(isSelf);
  if (self.length === 0) return [...hosts];
  const ownPreference = Math.min(...self.map((h) => h.preference));
  const better = hosts.filter((h) => h.preference < ownPreference && !isSelf(h));
  return better.length === 0 ? "loop" : better;
}

function canonicalIp(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, "");
}

/** AAAA then A (prefer-ipv6), or one family only. */
export function addressesInOrder(host: MxHost, family: IpFamily): MxAddress[] {
  const six = host.addresses.filter((a) => a.family === 6);
  const four = host.addresses.filter((a) => a.family === 4);
  if (family === "ipv4") return four;
  if (family === "ipv6") return six;
  return [...six, ...four];
}

interface Target {
  host: string;
  port: number;
  /** Name for SNI, certificate checks and logs. */
  name: string;
  secure: boolean;
  tls: TlsMode;
  auth?: { user: string; pass: string };
}

/** Either the server answered the transaction (results are final for this try), or try the next address. */
type Attempt =
  | { kind: "answered"; results: RecipientResult[] }
  | { kind: "next"; failure: FailureKind; response: string; host: string; code?: number; enhanced?: string };

interface SmtpFailure extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  rejectedErrors?: SmtpFailure[];
}

export function enhancedCode(response: string | undefined): string | undefined {
  return response?.match(/^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/)?.[1];
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, " ").slice(0, 1000);
}

export function createSender(options: DeliveryOptions): Sender {
  const problem = ehloNameProblem(options.ehloName);
  if (problem) throw new Error(problem);
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const signer: DkimSigner | undefined =
    options.dkim === undefined ? undefined : "sign" in options.dkim ? options.dkim : createDkimSigner(options.dkim as readonly DkimKey[]);
  const localNames = new Set((options.localNames ?? [options.ehloName]).map((n) => n.toLowerCase().replace(/\.$/, "")));
  const localAddresses = new Set((options.localAddresses ?? ownAddresses()).map(canonicalIp));
  const tlsPolicy = new Map(Object.entries(options.tlsPolicy ?? {}).map(([d, m]) => [d.toLowerCase(), m]));
  const active = new Set<SMTPConnection>();
  let closed = false;

  function everyone(job: DeliveryJob, result: Omit<RecipientResult, "recipient">): RecipientResult[] {
    return job.recipients.map((recipient) => ({ recipient, ...result }));
  }

  function failed(kind: FailureKind, response: string, extra: { code?: number; enhanced?: string; host?: string } = {}): Omit<RecipientResult, "recipient"> {
    const verdict = classify({ kind, ...extra });
    return { status: verdict === "bounce" ? "bounced" : "deferred", response, ...extra };
  }

  /** The bytes on the wire: our headers, CRLF everywhere, then the DKIM signature over exactly that. */
  function outgoing(job: DeliveryJob): Readable {
    const source = job.message();
    let stream = normalizeLineEndings(source);
    if (signer) {
      const senderDomain = job.mailFrom.includes("@") ? job.mailFrom.slice(job.mailFrom.lastIndexOf("@") + 1) : options.ehloName;
      stream = signer.sign(stream, senderDomain);
    }
    // pipe() does not pass a destroy upstream: when the message is not sent in full (refused
    // envelope, lost connection), the spool file must still be closed.
    stream.once("close", () => source.destroy());
    return stream;
  }

  async function attempt(job: DeliveryJob, target: Target, log: Logger): Promise<Attempt> {
    const label = target.name === target.host ? target.host : `${target.name} [${target.host}]`;
    const required = target.tls !== "opportunistic";
    const connection = new SMTPConnection({
      host: target.host,
      port: target.port,
      secure: target.secure,
      name: options.ehloName,
      ...(isIP(target.name) ? {} : { servername: target.name }),
      connectionTimeout: settings.connectTimeoutMs,
      greetingTimeout: settings.greetingTimeoutMs,
      socketTimeout: settings.commandTimeoutMs,
      socketCloseTimeout: 1000,
      requireTLS: required,
      opportunisticTLS: !required,
      tls: { rejectUnauthorized: target.tls === "verify" },
      logger: false,
    });
    active.add(connection);
    // Errors also come as callbacks; this listener keeps a late one from crashing the process.
    connection.on("error", () => {});
    try {
      try {
        await step(connection, (done) => connection.connect((err) => done(err)));
      } catch (err) {
        const e = err as SmtpFailure;
        const response = `${label}: ${oneLine(e.response ?? e.message)}`;
        log.info({ host: label, err: e.message }, "connection failed, trying the next address");
        if (e.code === "ETLS" && required) return { kind: "next", failure: "tls-required", response: `TLS required for ${job.domain} but not available: ${response}`, host: label };
        return { kind: "next", failure: "connection", response, host: label, ...replyCodes(e.response) };
      }
      if (target.auth) {
        try {
          const auth = { user: target.auth.user, pass: target.auth.pass };
          await step(connection, (done) => connection.login(auth, (err) => done(err)));
        } catch (err) {
          // Wrong relay credentials are our configuration, not the recipient's fault: keep the mail.
          const e = err as SmtpFailure;
          return { kind: "answered", results: everyone(job, { ...failed("connection", `relay host ${label} refused our login: ${oneLine(e.response ?? e.message)}`), host: label }) };
        }
      }
      const tls = connection.secure;
      const results = await transaction(job, connection, label, tls);
      connection.quit();
      return { kind: "answered", results };
    } finally {
      active.delete(connection);
      // quit() already ended a finished session; close() makes sure a broken one goes too.
      setTimeout(() => connection.close(), 1000).unref();
    }
  }

  /** MAIL, RCPT, DATA on an open session; per-recipient results. */
  async function transaction(job: DeliveryJob, connection: SMTPConnection, label: string, tls: boolean): Promise<RecipientResult[]> {
    const base = { host: label, tls };
    const fromReply = (recipient: string, status: RecipientResult["status"], reply: string): RecipientResult => ({
      recipient,
      status,
      response: oneLine(reply),
      ...replyCodes(reply),
      ...base,
    });
    const rejectedResult = (e: SmtpFailure): RecipientResult => {
      const reply = e.response ?? e.message;
      const verdict = classify({ kind: "smtp", ...replyCodes(reply) });
      return fromReply(e.recipient ?? "", verdict === "bounce" ? "bounced" : "deferred", reply);
    };
    let message: Readable;
    try {
      message = outgoing(job);
    } catch (err) {
      return everyone(job, { status: "deferred", response: `cannot read the queued message: ${(err as Error).message}`, ...base });
    }
    try {
      let info: SMTPConnection.SentMessageInfo | undefined;
      await step(connection, (done) =>
        connection.send({ from: job.mailFrom, to: [...job.recipients], use8BitMime: true }, message, (err, sent) => {
          info = sent;
          done(err);
        }),
      );
      const sent = info as SMTPConnection.SentMessageInfo | undefined;
      if (!sent) throw Object.assign(new Error("no reply to the message"), { code: "ECONNECTION" });
      const rejected = new Map((sent.rejectedErrors ?? []).map((e) => [(e as SmtpFailure).recipient ?? "", e as SmtpFailure]));
      return job.recipients.map((recipient) => {
        const error = rejected.get(recipient);
        return error ? rejectedResult(error) : fromReply(recipient, "delivered", sent.response);
      });
    } catch (err) {
      message.destroy();
      const e = err as SmtpFailure;
      if (e.code === "ESTREAM") {
        return everyone(job, { status: "deferred", response: `cannot read the queued message: ${e.message}`, ...base });
      }
      if (e.code === "EMESSAGE" && e.command === "MAIL FROM" && e.responseCode === undefined) {
        // Larger than the server's advertised SIZE: it will not get smaller.
        return everyone(job, { status: "bounced", response: `${label}: ${e.message}`, code: 552, enhanced: "5.3.4", ...base });
      }
      if (e.responseCode === undefined || e.code === "ECONNECTION" || e.code === "ESOCKET" || e.code === "ETIMEDOUT") {
        // Lost mid-transaction: the outcome is unknown, so nobody counts as delivered.
        return everyone(job, { ...failed("connection", `${label}: ${oneLine(e.message)}`), ...base });
      }
      // Rejections from RCPT are known per recipient; the rest share the failing reply.
      const rejected = new Map(rejectedErrorsOf(e, connection).map((r) => [r.recipient ?? "", r]));
      const reply = e.response ?? e.message;
      const shared = classify({ kind: "smtp", ...replyCodes(reply) }) === "bounce" ? "bounced" : "deferred";
      return job.recipients.map((recipient) => {
        const own = rejected.get(recipient);
        return own ? rejectedResult(own) : fromReply(recipient, shared, reply);
      });
    }
  }

  function targetsFor(job: DeliveryJob, hosts: readonly MxHost[]): Target[] {
    const tls = tlsPolicy.get(job.domain.toLowerCase()) ?? "opportunistic";
    return hosts
      .flatMap((h) => addressesInOrder(h, settings.ipFamily).map((a) => ({ host: a.address, port: settings.port, name: h.name, secure: false, tls })))
      .slice(0, settings.maxAddresses);
  }

  return {
    async deliver(job) {
      const log = (options.logger ?? silentLogger()).child({ envelopeId: job.envelopeId, domain: job.domain });
      if (closed) return everyone(job, { status: "deferred", response: "delivery is shutting down" });
      if (job.recipients.length === 0) return [];

      let targets: Target[];
      if (options.relayHost) {
        const r = options.relayHost;
        // A password never crosses the network in clear text or to an unverified server;
        // loopback is not the network.
        const guarded = r.auth !== undefined && !isUsualLoopbackSpelling(r.host);
        const tls: TlsMode = guarded ? (r.verifyTls === false ? "require" : "verify") : (tlsPolicy.get(job.domain.toLowerCase()) ?? "opportunistic");
        targets = [{ host: r.host, port: r.port, name: r.host, secure: r.secure ?? false, tls, ...(r.auth ? { auth: r.auth } : {}) }];
      } else {
        let hosts: MxHost[];
        try {
          const route = await options.resolver.resolve(job.domain);
          const local = options.isLocalDomain?.(job.domain.toLowerCase()) ?? false;
          const remaining = local ? route.hosts : withoutSelf(route.hosts, localNames, localAddresses);
          if (remaining === "loop") {
            log.warn("MX points back at us");
            return everyone(job, failed("loop", `mail for ${job.domain} loops back to myself (MX points at this system)`, { code: 554, enhanced: "5.4.6" }));
          }
          hosts = remaining;
        } catch (err) {
          if (err instanceof RouteError) {
            log.info({ verdict: err.verdict, err: err.message }, "no route");
            const codes = err.verdict === "bounce" ? { code: 550, enhanced: err.kind === "null-mx" ? "5.1.10" : err.kind === "loop" ? "5.4.6" : "5.1.2" } : { code: 451, enhanced: "4.4.3" };
            return everyone(job, failed(err.kind, err.message, codes));
          }
          return everyone(job, failed("dns-temp", `DNS lookup failed: ${(err as Error).message}`, { code: 451, enhanced: "4.4.3" }));
        }
        targets = targetsFor(job, hosts);
        if (targets.length === 0) {
          // MX records exist but have no usable address: retry, never fall back to A.
          return everyone(job, failed("connection", `no ${settings.ipFamily === "prefer-ipv6" ? "" : `${settings.ipFamily} `}address for the MX hosts of ${job.domain} (${hosts.map((h) => h.name).join(", ") || "none"})`, { code: 451, enhanced: "4.4.4" }));
        }
      }

      let last: Extract<Attempt, { kind: "next" }> | undefined;
      for (const target of targets) {
        if (closed) break;
        const result = await attempt(job, target, log);
        if (result.kind === "answered") {
          log.info({ host: target.name, address: target.host, statuses: result.results.map((r) => r.status) }, "delivery attempt answered");
          return result.results;
        }
        last = result;
      }
      const response = last ? `no MX host of ${job.domain} could be reached; last: ${last.response}` : "delivery is shutting down";
      const failure = last?.failure === "tls-required" ? "tls-required" : "connection";
      return everyone(job, failed(failure, response, { code: 451, enhanced: failure === "tls-required" ? "4.7.5" : "4.4.1", ...(last ? { host: last.host } : {}) }));
    },

    async close() {
      closed = true;
      for (const connection of active) connection.close();
      active.clear();
    },
  };
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

function replyCodes(reply: string | undefined): { code?: number; enhanced?: string } {
  const code = Number(reply?.match(/^([2-5]\d\d)\b/)?.[1]);
  const enhanced = enhancedCode(reply);
  return { ...(Number.isFinite(code) ? { code } : {}), ...(enhanced ? { enhanced } : {}) };
}

/** RCPT rejections: on the error when all were refused, else kept by the connection (DATA failed after some were refused). */
function rejectedErrorsOf(e: SmtpFailure, connection: SMTPConnection): SmtpFailure[] {
  if (e.rejectedErrors) return e.rejectedErrors;
  // nodemailer does not hand these over when DATA itself fails; read its envelope state.
  const envelope = (connection as unknown as { _envelope?: { rejectedErrors?: SmtpFailure[] } })._envelope;
  return envelope?.rejectedErrors ?? [];
}

/** Only the usual loopback spellings: a relay at another 127.x address is treated as remote. */
function isUsualLoopbackSpelling(host: string): boolean {
  return host === "localhost" || host === "127.0.0.1" || host === "::1";
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

