// The expiry warnings while the daemon runs: checked at start, at every users-list reload
// (the daemon calls check), and every hour, which is as precise as a warning days ahead needs.
import type { Logger } from "pino";
import type { Settings } from "../../../config/settings.ts";
import type { UsersList } from "../../../config/users-list.ts";
import type { MboxStore } from "../store/index.ts";
import { createExpiryWarnings } from "./expiry-warnings.ts";

const CHECK_EVERY_MS = 3_600_000;

export interface RunningExpiryWarnings {
  /** Warns whoever is due now; resolves with the owners warned. */
  check(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startExpiryWarnings(
  settings: Settings,
  parts: {
    readonly store: MboxStore;
    readonly users: () => UsersList;
    readonly clock?: () => number;
    readonly logger: Logger;
  },
): Promise<RunningExpiryWarnings> {
  const warnings = createExpiryWarnings({
    users: parts.users,
    store: parts.store,
    mailRoot: settings.inbound.mailRoot,
    hostname: settings.hostname,
    from: `postmaster@${settings.managedDomain}`,
    warnBefore: settings.inbound.expiryWarning,
    now: parts.clock ?? Date.now,
    logger: parts.logger.child({ part: "expiry" }),
  });
  await warnings.check();
  const timer = setInterval(() => void warnings.check(), CHECK_EVERY_MS);
  timer.unref();
  return {
    check: () => warnings.check(),
    async stop() {
      clearInterval(timer);
      // The last check is let finish before the store closes.
      await warnings.settled();
    },
  };
}
