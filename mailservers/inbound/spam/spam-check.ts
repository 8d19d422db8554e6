// The inbound daemon's spam check (inbound.rspamd): before the final 250, the message is
// read into memory (up to maxSize), sent to Rspamd, and then either refused (550 5.7.1; 451
// 4.7.1 for greylisting, when that is on) or handed on to the store with the verdict's headers
// in front, marked for the Junk folder where Rspamd says "add header". Rspamd down, slow (past
// `timeout`) or answering nonsense, or a message larger than maxSize: accepted unscanned,
// with a header that says so. Mail is never lost, and a session never waits past `timeout`
// for Rspamd.
import { Readable } from "node:stream";
import type { Logger } from "pino";
import type { RspamdSettings } from "../../../config/sections/inbound.ts";
import { permFail, tempFail, type Envelope } from "../../core/types.ts";
import type { ClientName } from "./client-name.ts";
import { RspamdUnavailable, checkMessage, type RspamdResult } from "./rspamd-client.ts";
import {
  rejectText,
  scannedHeaders,
  unscannedHeaders,
  verdictOf,
  withoutSpamHeaders,
  type SpamVerdict,
} from "./verdict.ts";

/** A message the check let through: what to store (our headers first), and whether into Junk. */
export interface CheckedMessage {
  readonly message: Readable;
  readonly junk: boolean;
  /** "unscanned" when Rspamd gave no verdict. */
  readonly verdict: SpamVerdict | "unscanned";
}

export interface SpamCheck {
  /** Reads `message`, asks Rspamd; throws the SmtpError of a refusal, or the stream's own error. */
  check(envelope: Envelope, message: Readable): Promise<CheckedMessage>;
}

/** Rspamd's /checkv2 (tests replace it). */
export type AskRspamd = typeof checkMessage;

/** An IPv4 address as Rspamd wants it, not IPv4-mapped IPv6. */
const plainIp = (address: string) => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");

export interface SpamCheckOptions {
  readonly logger: Logger;
  /** The client's forward-confirmed name, for Rspamd's Hostname (client-name.ts); absent: none sent. */
  readonly clientName?: ClientName;
  /** Rspamd's /checkv2 (tests replace it). */
  readonly ask?: AskRspamd;
}

export function createSpamCheck(settings: RspamdSettings, options: SpamCheckOptions): SpamCheck {
  const { logger, clientName } = options;
  const ask = options.ask ?? checkMessage;
  const policy = {
    greylist: settings.greylist,
    ...(settings.rejectScore !== undefined ? { rejectScore: settings.rejectScore } : {}),
    ...(settings.junkScore !== undefined ? { junkScore: settings.junkScore } : {}),
  };

  return {
    async check(envelope, message) {
      const ip = plainIp(envelope.session.remoteAddress);
      // Looked up while the message is read.
      const name = clientName ? clientName(ip).catch(() => undefined) : undefined;
      // Read up to maxSize; one iterator, so a message read only in part goes on from where it stopped.
      const chunks = message[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const held: Buffer[] = [];
      let size = 0;
      let whole = false;
      while (size <= settings.maxSize) {
        const next = await chunks.next();
        if (next.done) {
          whole = true;
          break;
        }
        held.push(next.value);
        size += next.value.length;
      }
      const head = withoutSpamHeaders(Buffer.concat(held));
      held.length = 0;

      if (!whole) {
        logger.info({ id: envelope.id, maxSize: settings.maxSize }, "message larger than rspamd.maxSize: not scanned");
        const prefix = unscannedHeaders(`larger than ${settings.maxSize} bytes`);
        return {
          message: Readable.from(rest(prefix, head, chunks), { objectMode: false }),
          junk: false,
          verdict: "unscanned",
        };
      }

      const started = Date.now();
      // The name's lookup counts against the timeout: the session waits no longer in all.
      const hostname = await name;
      let result: RspamdResult;
      try {
        result = await ask(
          settings.url,
          [head],
          {
            ip,
            helo: envelope.session.clientHostname,
            ...(hostname !== undefined ? { hostname } : {}),
            from: envelope.mailFrom,
            recipients: envelope.recipients,
            queueId: envelope.id,
          },
          Math.max(1, settings.timeout - (Date.now() - started)),
        );
      } catch (err) {
        const reason = err instanceof RspamdUnavailable ? `rspamd: ${err.reason}` : "rspamd failed";
        logger.warn({ id: envelope.id, err, ms: Date.now() - started }, `${reason}: message accepted unscanned`);
        return {
          message: Readable.from([unscannedHeaders(reason), head], { objectMode: false }),
          junk: false,
          verdict: "unscanned",
        };
      }
      const verdict = verdictOf(result, policy);
      logger.info(
        { id: envelope.id, score: result.score, action: result.action, verdict, ms: Date.now() - started },
        "rspamd verdict",
      );
      if (verdict === "reject") throw permFail(550, "5.7.1", rejectText(result));
      if (verdict === "defer") throw tempFail(451, "4.7.1", "Greylisted, please try again later");
      return {
        message: Readable.from([scannedHeaders(result, verdict), head], { objectMode: false }),
        junk: verdict === "junk",
        verdict,
      };
    },
  };
}

/** Our header, what was held, then the rest of the message as it arrives (its errors included). */
async function* rest(prefix: Buffer, head: Buffer, chunks: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield prefix;
  yield head;
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
}
