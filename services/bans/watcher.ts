// `semail bans run`: follows the parts' logs, counts each address's failures in a sliding
// window, bans one that reaches bans.maxFailures (a firewall rule and an entry in bans.json)
// and lifts the ban when it ends. At start the book is read back: unexpired bans are put in
// the firewall again (a reboot empties it), ended ones are lifted. Stopping leaves the rules:
// a restart must not open a gap; an ended ban is lifted at the next start.
//
// Changes are made one at a time (one queue), each under the book's lock, so the watcher and
// `semail bans unban` never undo each other.
import type { Logger } from "pino";
import type { BanParserName, BansSettings } from "../../config/sections/bans.ts";
import type { Clock } from "../../lib/clock.ts";
import { inNetworks, isLoopback, networkBlockList } from "../../lib/ip-networks.ts";
import { isActive, nextBan, withoutForgotten } from "./ban-book.ts";
import { changeBanBook } from "./ban-state.ts";
import { FailureWindow } from "./failure-window.ts";
import type { Firewall } from "./firewall.ts";
import { followLog, type LogFollower } from "./log-follower.ts";
import { LOG_PARSERS } from "./parsers/index.ts";

export interface BanWatcherOptions {
  readonly settings: BansSettings;
  readonly firewall: Firewall;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Starts following one source; default: its command (log-follower.ts). */
  readonly follow?: (command: readonly string[], onLine: (line: string) => void) => LogFollower;
}

export interface BanWatcher {
  /** Reads one line of a source's log, as a follower does. */
  line(parser: BanParserName, line: string): void;
  /** Resolves once every change asked for so far is in the book and the firewall. */
  settled(): Promise<void>;
  /** Stops following and the timers; the bans stay in the firewall. */
  stop(): Promise<void>;
}

export async function startBanWatcher(options: BanWatcherOptions): Promise<BanWatcher> {
  const { settings, firewall, clock, logger } = options;
  const allowed = networkBlockList(settings.allow);
  const failures = new FailureWindow({ maxFailures: settings.maxFailures, windowMs: settings.window });
  const timers = new Map<string, () => void>();
  let queue: Promise<void> = Promise.resolve();

  /** Runs `work` after every change before it; a failure is logged, and the next change still runs. */
  const enqueue = (what: string, work: () => Promise<void>): void => {
    queue = queue.then(work).catch((err: unknown) => logger.error({ err: (err as Error).message }, `${what} failed`));
  };

  const arm = (address: string, until: number): void => {
    timers.get(address)?.();
    timers.set(
      address,
      clock.at(until, () => enqueue("lifting a ban", () => expire(address))),
    );
  };

  const expire = async (address: string): Promise<void> => {
    timers.delete(address);
    const later = await changeBanBook(settings.stateDir, (book) => {
      const entry = book.get(address);
      return { changed: false, value: entry !== undefined && isActive(entry, clock.now()) ? entry.until : undefined };
    });
    if (later !== undefined) return arm(address, later);
    // Lifted by `semail bans unban` already, or ended: the rule goes either way.
    await firewall.unban(address);
    logger.info({ address }, "ban ended");
  };

  const ban = async (address: string, reason: string): Promise<void> => {
    const now = clock.now();
    const entry = await changeBanBook(settings.stateDir, (book) => {
      const current = book.get(address);
      if (current !== undefined && isActive(current, now)) return { changed: false, value: undefined };
      const next = nextBan(book, address, reason, now, settings);
      book.set(address, next);
      return { changed: true, value: next };
    });
    failures.forget(address);
    if (entry === undefined) return;
    await firewall.ban(address);
    arm(address, entry.until);
    logger.warn({ address, reason, offences: entry.offences, until: new Date(entry.until).toISOString() }, "banned");
  };

  const line = (parser: BanParserName, text: string): void => {
    const failure = LOG_PARSERS[parser](text);
    if (failure === undefined) return;
    const { address, reason, count } = failure;
    const never = isLoopback(address) || inNetworks(address, allowed);
    logger.debug({ address, reason, allowed: never }, "failure");
    if (never) return;
    if (failures.add(address, count, clock.now())) enqueue("banning", () => ban(address, reason));
  };

  // The book as it was left: forgotten entries go, ended bans are lifted, the rest re-applied.
  const active = await changeBanBook(settings.stateDir, (book) => {
    const now = clock.now();
    const kept = withoutForgotten(book, now, settings.maxBan);
    const changed = kept.size !== book.size;
    book.clear();
    for (const [address, entry] of kept) book.set(address, entry);
    return { changed, value: [...kept.values()].filter((entry) => isActive(entry, now)) };
  });
  await firewall.install(active.map((entry) => entry.address));
  for (const entry of active) arm(entry.address, entry.until);
  logger.info({ banned: active.length, chain: settings.chain, sources: settings.sources.length }, "watching");

  const follow = options.follow ?? ((command, onLine) => followLog(command, onLine, logger));
  const followers = settings.sources.map((source) => follow(source.command, (text) => line(source.parser, text)));

  return {
    line,
    settled: async () => {
      // A change may queue another (an ended ban re-armed): wait until the queue stays still.
      for (let i = 0; i < 100; i++) {
        const seen = queue;
        await seen;
        if (seen === queue) return;
      }
    },
    async stop() {
      await Promise.all(followers.map((f) => f.stop()));
      for (const cancel of timers.values()) cancel();
      timers.clear();
      await queue;
    },
  };
}
