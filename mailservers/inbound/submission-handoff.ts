// An authenticated session's message, handed to the outbound daemon's submission with the
// session's own login (pass-on.ts). Outbound applies every rule of its own
// again (the sender must be the user's live mailbox, pending claims refused, rate limits),
// and its answer is the client's: 250 only after outbound's 250 (spooled and synced), its
// 4xx/5xx with its text, 451 when it cannot be reached. One connection per message.
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { receivedHeader } from "../core/received.ts";
import { tempFail, type Envelope } from "../core/types.ts";
import { passOn, type PassOnTimeouts } from "./pass-on.ts";

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
  /** Waits on outbound. */
  readonly timeouts?: PassOnTimeouts;
}

/** Sends the message as the session's user; resolves with outbound's 250 text, or throws the SmtpError to answer. */
export type Handoff = (envelope: Envelope, message: Readable) => Promise<string>;

export function createHandoff(options: HandoffOptions): Handoff {
  const { target, hostname, logger } = options;

  return async (envelope, message) => {
    const credentials = envelope.session.credentials;
    const log = logger.child({ session: envelope.session.id, id: envelope.id, part: "handoff" });
    if (!credentials) {
      log.error("an authenticated session without its login: nothing to hand to outbound with");
      throw tempFail(451, "4.3.0", "Temporary local problem, please try again later");
    }
    const user = credentials.user;
    return passOn(envelope, message, {
      server: {
        host: target.host,
        port: target.port,
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
      },
      hostname,
      timeouts: options.timeouts,
      login: { user, pass: credentials.password },
      prefix: receivedHeader({ envelope, hostname }),
      texts: {
        unreachable: "Submission service unavailable, try again later",
        tooBig: "Message too big for the submission service",
      },
      log: {
        unreachable: (err) =>
          log.warn(
            { outbound: `${target.host}:${target.port}`, err: err.message },
            "cannot reach outbound's submission",
          ),
        passed: (reply) => log.info({ user, reply }, "handed to outbound"),
        failed: (failure, refused) => log.info({ user, ...failure }, refused ? "outbound refused" : "hand-off failed"),
      },
    });
  };
}
