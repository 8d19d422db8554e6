// How a `semail` process waits for its end: the first SIGINT or SIGTERM. SIGHUP, where a
// part supports it, reloads without stopping.
import type { Logger } from "pino";

/** Resolves on the first SIGINT or SIGTERM; `onHangup` runs on each SIGHUP meanwhile. */
export function untilStopSignal(logger: Logger, onHangup?: () => void): Promise<void> {
  return new Promise((resolve) => {
    const hangup = () => {
      logger.info("SIGHUP: reloading the users list");
      onHangup?.();
    };
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, "stopping");
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (onHangup) process.off("SIGHUP", hangup);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    if (onHangup) process.on("SIGHUP", hangup);
  });
}
