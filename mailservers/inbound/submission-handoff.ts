// An authenticated session's message, handed to the outbound daemon's submission with the
// session's own login (nodemailer's SMTP client). Outbound applies every rule of its own
// again (the sender must be the user's live mailbox, pending claims refused, rate limits),
// and its answer is the client's: 250 only after outbound's 250 (spooled and synced), its
// 4xx/5xx with its text, 451 when it cannot be reached. One connection per message.
import { Readable } from "node:stream";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Logger } from "pino";
import { receivedHeader } from "../core/received.ts";
import { SmtpError, permFail, tempFail, type Envelope } from "../core/types.ts";

export interface HandoffTarget {
  readonly host: string;
  readonly port: number;
  /** STARTTLS required and the certificate checked: `ca` anchors it (a leaf or an intermediate will do), for `servername`. Absent: plain, for loopback only. */
  readonly tls?: { readonly ca: string | Buffer; readonly servername: string };
}

export interface HandoffOptions {
  readonly target: HandoffTarget;
  /** Our name: EHLO and the Received header. */
  readonly hostname: string;
  readonly logger: Logger;
  /** Waits on outbound, ms: connect, greeting, and any reply or silence in between (a slow client's DATA counts as activity). */
  readonly timeouts?: { readonly connectMs?: number; readonly greetingMs?: number; readonly socketMs?: number };
}

/** Sends the message as the session's user; resolves with outbound's 250 text, or throws the SmtpError to answer. */
export type Handoff = (envelope: Envelope, message: Readable) => Promise<string>;

interface NodemailerFailure extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  command?: string;
}

const unreachable = () => tempFail(451, "4.4.1", "Submission service unavailable, try again later");

/** Outbound's reply as ours: code, enhanced code and text kept; 421 (it closes) becomes 451 (we do not). */
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
 * The recipients outbound refused so far. nodemailer goes on to DATA with the others and
 * hands this list over only at the end, too late: a message sent to some recipients only
 * would be a 250 that silently drops the rest. (Private state; relay/delivery/send.ts and hand-on.ts read it too.)
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

export function createHandoff(options: HandoffOptions): Handoff {
  const { target, hostname, logger } = options;
  const timeouts = { connectMs: 10_000, greetingMs: 30_000, socketMs: 300_000, ...options.timeouts };

  return async (envelope, message) => {
    const credentials = envelope.session.credentials;
    const log = logger.child({ session: envelope.session.id, id: envelope.id, part: "handoff" });
    if (!credentials) {
      log.error("an authenticated session without its login: nothing to hand to outbound with");
      throw tempFail(451, "4.3.0", "Temporary local problem, please try again later");
    }
    const connection = new SMTPConnection({
      host: target.host,
      port: target.port,
      name: hostname,
      connectionTimeout: timeouts.connectMs,
      greetingTimeout: timeouts.greetingMs,
      socketTimeout: timeouts.socketMs,
      logger: false,
      ...(target.tls
        ? {
            requireTLS: true,
            servername: target.tls.servername,
            tls: {
              ca: target.tls.ca,
              servername: target.tls.servername,
              rejectUnauthorized: true,
              allowPartialTrustChain: true,
            },
          }
        : { ignoreTLS: true }),
    });
    // A late second error must not go unhandled; the steps below take the first.
    connection.on("error", () => undefined);
    const lost = whenLost(connection);
    // The outgoing message: our Received line, then the client's bytes. Its first read comes
    // after DATA's 354, when every RCPT reply is in: one refused recipient refuses the message.
    const outgoing = Readable.from(
      (async function* () {
        const refused = refusedRecipients(connection)[0];
        if (refused) throw refused;
        yield Buffer.from(receivedHeader({ envelope, hostname }));
        for await (const chunk of message) yield chunk as Buffer;
      })(),
      { objectMode: false },
    );
    try {
      try {
        await Promise.race([
          new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve()))),
          lost,
        ]);
      } catch (err) {
        log.warn(
          { outbound: `${target.host}:${target.port}`, err: (err as Error).message },
          "cannot reach outbound's submission",
        );
        throw unreachable();
      }
      const sent = await Promise.race([
        new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
          connection.login({ user: credentials.user, pass: credentials.password }, (err) => {
            if (err) return reject(err);
            const size = envelope.declaredSize;
            connection.send(
              {
                from: envelope.mailFrom,
                to: [...envelope.recipients],
                use8BitMime: true,
                ...(size !== undefined ? { size } : {}),
              },
              outgoing,
              (sendErr, info) => (sendErr ? reject(sendErr) : resolve(info)),
            );
          });
        }),
        lost,
      ]);
      const reply = sent.response.replace(/^250[ -]/, "");
      log.info({ user: credentials.user, reply }, "handed to outbound");
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
      // Larger than the SIZE outbound announces: nodemailer refuses it before asking.
      const tooBig =
        e.code === "EMESSAGE" && e.command === "MAIL FROM" && e.response === undefined
          ? permFail(552, "5.3.4", "Message too big for the submission service")
          : undefined;
      const passed = tooBig ?? (e.response ? outboundReply(e.response) : undefined);
      log.info(
        { user: credentials.user, code: e.code, reply: e.response ?? e.message },
        passed ? "outbound refused" : "hand-off failed",
      );
      throw passed ?? unreachable();
    } finally {
      // A refused or broken transaction never sees its final dot: outbound keeps nothing.
      connection.close();
    }
  };
}
