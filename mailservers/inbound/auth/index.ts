// Authentication on arrival: each message a client (not on an unchecked network: this host's
// own mail, left alone as OpenDMARC's IgnoreHosts does, only its forged fields removed) sends
// to a mailbox is held as received (held-message.ts), checked for SPF, DKIM, DMARC and ARC
// (check.ts, DNS through resolver.ts), and judged by the From domain's DMARC policy
// (verdict.ts). What the store gets is the message with our one Authentication-Results field
// on top and any arriving one that claims our authserv-id removed (forged-results.ts); every
// other byte as it came. The backend turns the verdict into a reply or a folder.
import path from "node:path";
import { Readable, pipeline } from "node:stream";
import type { BlockList } from "node:net";
import type { Logger } from "pino";
import { inNetworks } from "../../../lib/ip-networks.ts";
import type { Envelope } from "../../core/types.ts";
import { checkMessage, type CheckResults } from "./check.ts";
import { ForgedResultsFilter } from "./forged-results.ts";
import { holdMessage, type HeldMessage } from "./held-message.ts";
import type { MessageDns } from "./resolver.ts";
import { verdictOf, type Verdict } from "./verdict.ts";

export { createAuthDns, type AuthDnsOptions, type MessageDns } from "./resolver.ts";
export type { Action, Verdict } from "./verdict.ts";
export type { CheckResults } from "./check.ts";

export interface ArrivalAuthOptions {
  /** Our authserv-id (the hostname setting). */
  readonly hostname: string;
  /** Where a large message waits while it is checked (the store's temp directory). */
  readonly tempDir: string;
  /** DNS for one message's checks (createAuthDns). */
  readonly dns: () => MessageDns;
  /** Longest the checks of one message may take; the resolver keeps to it, this is the backstop. */
  readonly budgetMs: number;
  /** Apply DMARC p=reject and p=quarantine (inbound.dmarcEnforce). */
  readonly enforce: boolean;
  /** Clients whose mail is not checked (inbound.uncheckedNetworks). */
  readonly unchecked: BlockList;
  readonly logger: Logger;
}

/** A message judged: what to do with it, and the bytes to store. */
export interface JudgedMessage {
  readonly verdict: Verdict;
  /** Absent for a client on an unchecked network. */
  readonly results?: CheckResults;
  /** The message to store (once): our Authentication-Results, then the message without forged ones. */
  stream(): Readable;
  /** Frees the held message; call once the store is done with it. */
  release(): Promise<void>;
}

export type ArrivalAuth = (envelope: Envelope, message: Readable) => Promise<JudgedMessage>;

/** Time past the budget before the checks are given up on (the resolver should end them first). */
const BACKSTOP_MS = 2000;

export function createArrivalAuth(options: ArrivalAuthOptions): ArrivalAuth {
  const { hostname, logger } = options;
  let sequence = 0;

  /** Every check as temperror, when mailauth itself failed or overran. */
  const temperror = (why: string): CheckResults => ({
    spf: "temperror",
    dkim: [{ result: "temperror" }],
    dmarc: "temperror",
    arc: "none",
    header: `Authentication-Results: ${hostname};\r\n spf=temperror (${why});\r\n dkim=temperror;\r\n dmarc=temperror\r\n`,
  });

  async function check(envelope: Envelope, held: HeldMessage): Promise<CheckResults> {
    const { session } = envelope;
    const dns = options.dns();
    const input = held.stream();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        checkMessage(input, {
          ip: session.remoteAddress,
          helo: session.clientHostname,
          mailFrom: envelope.mailFrom,
          authservId: hostname,
          lookup: dns.lookup,
        }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error("the checks took too long")), options.budgetMs + BACKSTOP_MS);
        }),
      ]);
    } catch (err) {
      logger.error({ err, id: envelope.id }, "authentication checks failed: temperror");
      input.destroy();
      return temperror((err as Error).message.replace(/[()\\\r\n]/g, " "));
    } finally {
      clearTimeout(timer);
      dns.close();
    }
  }

  /** This host's own mail (OpenDMARC's IgnoreHosts): not held, not checked, no header; forged ones still go. */
  const unchecked = (message: Readable): JudgedMessage => ({
    verdict: { action: "deliver", reason: "client on an unchecked network (inbound.uncheckedNetworks)" },
    stream: () => {
      const filtered = new ForgedResultsFilter(hostname);
      pipeline(message, filtered, () => {});
      return filtered;
    },
    release: async () => {},
  });

  return async (envelope, message) => {
    if (inNetworks(envelope.session.remoteAddress, options.unchecked)) return unchecked(message);
    const held = await holdMessage(message, path.join(options.tempDir, `auth-${process.pid}-${++sequence}`));
    try {
      const results = await check(envelope, held);
      const verdict = verdictOf(results, options.enforce);
      logger.info(
        {
          id: envelope.id,
          client: envelope.session.remoteAddress,
          mailFrom: envelope.mailFrom,
          spf: results.spf,
          dkim: results.dkim.map((d) => (d.domain ? `${d.result} (${d.domain})` : d.result)),
          dmarc: results.dmarc,
          ...(results.dmarcPolicy ? { policy: results.dmarcPolicy } : {}),
          ...(results.fromDomain ? { from: results.fromDomain } : {}),
          arc: results.arc,
          action: verdict.action,
          reason: verdict.reason,
        },
        "authentication verdict",
      );
      const judged: JudgedMessage = {
        verdict,
        results,
        stream: () => {
          const filtered = new ForgedResultsFilter(hostname);
          // A read error of the held copy ends the filter with it, and so the store's stream.
          pipeline(held.stream(), filtered, () => {});
          return Readable.from(
            (async function* () {
              yield Buffer.from(results.header, "utf8");
              yield* filtered;
            })(),
            { objectMode: false },
          );
        },
        release: () => held.release(),
      };
      return judged;
    } catch (err) {
      await held.release();
      throw err;
    }
  };
}
