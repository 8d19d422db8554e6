// One transaction passed on to another SMTP server with nodemailer's SMTP client, its replies
// passed back: 250 only after that server's 250, its 4xx or 5xx with its text, 451 4.4.1 when it
// cannot be reached. The submission hand-off (to outbound) and the hand-on (to a peer host) differ
// only in where they connect, what they add before the client's bytes, a login, and their words.
import { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { SmtpError, permFail, tempFail, type Envelope } from "../core/types.ts";

/** Waits on the other server, ms: connect, greeting, and any reply or silence in between (a slow client's DATA counts as activity). */
export interface PassOnTimeouts {
  readonly connectMs?: number;
  readonly greetingMs?: number;
  readonly socketMs?: number;
}

/** The caller's log lines, in its own words and fields. */
export interface PassOnLog {
  /** The connection or the greeting failed. */
  unreachable(err: Error): void;
  /** The other server took the message: its 250 text. */
  passed(reply: string): void;
  /** The transaction failed; `refused` when the other server's reply is passed back. */
  failed(failure: { readonly code?: string; readonly reply: string }, refused: boolean): void;
}

export interface PassOnOptions {
  /** Where to connect and how to use TLS there (nodemailer's options); the rest is added here. */
  readonly server: SMTPConnection.Options;
  /** Our DNS name: EHLO. */
  readonly hostname: string;
  readonly timeouts?: PassOnTimeouts;
  /** Given: logged in with it before MAIL FROM. */
  readonly login?: { readonly user: string; readonly pass: string };
  /** Sent before the client's bytes: a marker line or our Received header. */
  readonly prefix: string;
  /** The texts of our own refusals: 451 4.4.1 when it cannot be reached, 552 5.3.4 when larger than its SIZE. */
  readonly texts: { readonly unreachable: string; readonly tooBig: string };
  readonly log: PassOnLog;
}

interface NodemailerFailure extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  command?: string;
}

/** The other server's reply as ours: code, enhanced code and text kept; 421 (it closes) becomes 451 (we do not). */
export function outboundReply(response: string): SmtpError | undefined {
  const code = Number(/^([45]\d\d)[ -]/.exec(response)?.[1]);
  if (!Number.isInteger(code)) return undefined;
  const text = response
    .split(/\r?\n/)
    .map((line) => line.replace(/^\d{3}[ -]?/, ""))
    .join(" ")
    .trim();
  const enhanced = /^([45]\.\d{1,3}\.\d{1,3}) +(.*)$/s.exec(text);
  const reply = code === 421 ? 451 : code;
  const fallback = reply >= 500 ? "5.0.0" : "4.0.0";
  const [status, rest] = enhanced ? [enhanced[1]!, enhanced[2]!] : [fallback, text];
  return reply >= 500 ? permFail(reply, status, rest) : tempFail(reply, status, rest);
}

/**
 * The recipients the other server refused so far. nodemailer goes on to DATA with the others and
 * hands this list over only at the end, too late: a message sent to some recipients only
 * would be a 250 that silently drops the rest. (Private state; relay/delivery/send.ts reads it too.)
 */
export function refusedRecipients(connection: SMTPConnection): NodemailerFailure[] {
  const envelope = (connection as unknown as { _envelope?: { rejectedErrors?: NodemailerFailure[] } })._envelope;
  return envelope?.rejectedErrors ?? [];
}

/** Rejects once the connection fails or ends by itself, so no step waits for a callback that never comes. */
export function whenLost(connection: SMTPConnection): Promise<never> {
  const lost = new Promise<never>((_, reject) => {
    connection.once("error", reject);
    connection.once("end", () =>
      reject(Object.assign(new Error("connection closed unexpectedly"), { code: "ECONNECTION" })),
    );
  });
  lost.catch(() => undefined);
  return lost;
}

/** Passes the envelope and message on: resolves with the other server's 250 text, or throws the SmtpError to answer. */
export async function passOn(envelope: Envelope, message: Readable, options: PassOnOptions): Promise<string> {
  const { log, login, texts } = options;
  const timeouts = { connectMs: 10_000, greetingMs: 30_000, socketMs: 300_000, ...options.timeouts };
  const connection = new SMTPConnection({
    ...options.server,
    name: options.hostname,
    connectionTimeout: timeouts.connectMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    logger: false,
  });
  // A late second error must not go unhandled; the steps below take the first.
  connection.on("error", () => undefined);
  const lost = whenLost(connection);
  // The outgoing message: the prefix, then the client's bytes. Its first read comes after
  // DATA's 354, when every RCPT reply is in: one refused recipient refuses the message.
  const outgoing = Readable.from(
    (async function* () {
      const refused = refusedRecipients(connection)[0];
      if (refused) throw refused;
      yield Buffer.from(options.prefix);
      for await (const chunk of message) yield chunk as Buffer;
    })(),
    { objectMode: false },
  );
  const unreachable = () => tempFail(451, "4.4.1", texts.unreachable);
  try {
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve()))),
        lost,
      ]);
    } catch (err) {
      log.unreachable(err as Error);
      throw unreachable();
    }
    const sent = await Promise.race([
      new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
        const send = () => {
          const size = envelope.declaredSize;
          connection.send(
            {
              from: envelope.mailFrom,
              to: [...envelope.recipients],
              use8BitMime: true,
              ...(size !== undefined ? { size } : {}),
            },
            outgoing,
            (err, info) => (err ? reject(err) : resolve(info)),
          );
        };
        if (login) connection.login(login, (err) => (err ? reject(err) : send()));
        else send();
      }),
      lost,
    ]);
    const reply = sent.response.replace(/^250[ -]/, "");
    log.passed(reply);
    connection.quit();
    return reply;
  } catch (err) {
    const e = err as NodemailerFailure;
    // Ours (unreachable), or the client's own stream failing (a limit, a hang-up, which
    // nodemailer passes on as ESTREAM): the front end answers those.
    if (
      (err instanceof SmtpError && e.code === undefined) ||
      (e.code === "ESTREAM" && refusedRecipients(connection).length === 0)
    )
      throw err;
    // Larger than the SIZE the other server announces: nodemailer refuses it before asking.
    const tooBig =
      e.code === "EMESSAGE" && e.command === "MAIL FROM" && e.response === undefined
        ? permFail(552, "5.3.4", texts.tooBig)
        : undefined;
    const passed = tooBig ?? (e.response ? outboundReply(e.response) : undefined);
    log.failed({ code: e.code, reply: e.response ?? e.message }, passed !== undefined);
    throw passed ?? unreachable();
  } finally {
    // A refused or broken transaction never sees its final dot: the other server keeps nothing.
    connection.close();
  }
}
