// What SIZE says in EHLO on inbound's MX listeners: the largest message some mailbox here
// can take now (store.largestMessage), never more than inbound.maxMessageSize. EHLO comes
// before any recipient, so this is the best of them; each recipient's own limit is its
// 552 5.2.2 at RCPT. smtp-server reads the figure synchronously (EHLO, and its check of a
// declared SIZE at MAIL), so it is kept here and looked up again in the background when
// older than `maxAgeMs`.
//
// When no mailbox can take anything (all full, none mounted yet), the configured limit is
// advertised: those are temporary states, answered per recipient with 452 or 450, and a
// SIZE below a client's message would make it give up for good at MAIL.
import type { Logger } from "pino";

export interface AdvertisedSizeOptions {
  /** inbound.maxMessageSize: the most ever advertised. */
  readonly limit: number;
  /** The owners to ask and their quotas, now (the users list's mailboxes and the admin mailbox). */
  readonly mailboxes: () => Iterable<{ readonly owner: string; readonly quota: number }>;
  /** The store's answer for one mailbox. */
  readonly largestMessage: (owner: string, quota: number) => Promise<number>;
  readonly logger: Logger;
  /** How long a figure is used before it is looked up again (default 10 s). */
  readonly maxAgeMs?: number;
  readonly clock?: () => number;
}

export interface AdvertisedSize {
  /** The figure for this EHLO; starts a new look in the background when the figure is old. */
  current(): number;
  /** Looks now; resolves once the figure is new. */
  refresh(): Promise<void>;
}

export function createAdvertisedSize(options: AdvertisedSizeOptions): AdvertisedSize {
  const clock = options.clock ?? Date.now;
  const maxAgeMs = options.maxAgeMs ?? 10_000;
  let value = options.limit;
  let at = Number.NEGATIVE_INFINITY;
  let looking: Promise<void> | undefined;

  const look = async (): Promise<number> => {
    let best = 0;
    for (const { owner, quota } of options.mailboxes()) {
      const largest = await options.largestMessage(owner, quota).catch((err: unknown) => {
        options.logger.warn({ owner, err }, "cannot tell how big a message this mailbox takes");
        return 0;
      });
      best = Math.max(best, largest);
      // Most mailboxes have room for the largest message allowed: no need to look further.
      if (best >= options.limit) break;
    }
    return best === 0 ? options.limit : Math.min(best, options.limit);
  };

  const refresh = (): Promise<void> => {
    looking ??= look()
      .then(
        (found) => {
          value = found;
          at = clock();
        },
        (err: unknown) => options.logger.warn({ err }, "cannot work out the SIZE to advertise; keeping the last one"),
      )
      .finally(() => {
        looking = undefined;
      });
    return looking;
  };

  return {
    current() {
      if (clock() - at > maxAgeMs) void refresh();
      return value;
    },
    refresh,
  };
}
