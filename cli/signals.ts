// How a `semail` process waits for its end: the first SIGINT or SIGTERM. SIGHUP, where a
// part supports it, reloads without stopping.
import type { Logger } from "pino";
import { compactHeap } from "./compact-heap.ts";
import { releaseFreedMemory } from "./release-freed-memory.ts";

/** Resolves with the first SIGINT or SIGTERM; `onHangup` runs on each SIGHUP meanwhile. */
export function untilStopSignal(logger: Logger, onHangup?: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const hangup = () => {
      logger.info("SIGHUP: reloading the users list and the certificate");
      onHangup?.();
    };
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, "stopping");
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (onHangup) process.off("SIGHUP", hangup);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    if (onHangup) process.on("SIGHUP", hangup);
  });
}

/** A started SMTP daemon: SIGHUP reloads its users list, stop() ends it after open sessions. */
export interface Daemon {
  reload(): unknown;
  stop(): Promise<void>;
}

/** Serves `daemon` until SIGINT or SIGTERM, then stops it. The heap is compacted once it is up. */
export async function serveUntilStopped(logger: Logger, daemon: Daemon): Promise<void> {
  // Handlers first: a signal sent as soon as the daemon logs "listening" must not kill it.
  const stopped = untilStopSignal(logger, () => void daemon.reload());
  compactHeap();
  const stopTrimming = releaseFreedMemory(logger);
  await stopped;
  stopTrimming();
  await daemon.stop();
}
