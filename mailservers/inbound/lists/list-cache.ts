// The directory's mailing lists as the daemon serves them: read at start, read again every
// `refreshMs` (inbound.lists.refresh), so a change in LDAP takes effect within that bound with
// no restart. A failed read keeps the last good lists and logs; before the first good read the
// lists are unknown (undefined), and an address that might be one gets a 4xx, not a 5xx.
import type { Logger } from "pino";
import type { MailingList } from "../../../config/mailing-lists.ts";

export interface ListCacheOptions {
  /** Reads every list from the directory; rejects when it cannot. */
  readonly load: () => Promise<readonly MailingList[]>;
  readonly refreshMs: number;
  readonly logger: Logger;
}

export class ListCache {
  readonly #options: ListCacheOptions;
  #lists: readonly MailingList[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  constructor(options: ListCacheOptions) {
    this.#options = options;
  }

  /** The last good lists, or undefined when none was read yet. */
  current(): readonly MailingList[] | undefined {
    return this.#lists;
  }

  /** Reads now (one read at a time: a slow directory never piles reads up). */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** The first read (its failure is logged, not thrown: the daemon serves mailboxes meanwhile), then one every refreshMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#options.refreshMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a read under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#reading;
  }

  async #read(): Promise<void> {
    try {
      const lists = await this.#options.load();
      if (this.#lists === undefined || this.#lists.length !== lists.length)
        this.#options.logger.info({ lists: lists.length }, "mailing lists read from the directory");
      this.#lists = lists;
    } catch (err) {
      this.#options.logger.warn(
        { err: { message: (err as Error).message }, kept: this.#lists?.length ?? null },
        "cannot read the mailing lists; keeping the last good ones",
      );
    }
  }
}
