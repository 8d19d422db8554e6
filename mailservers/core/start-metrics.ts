// Starts a daemon's metrics when its `metricsListen` is set, and loads nothing otherwise:
// metrics.ts (node:http, prom-client) is imported only then, since it costs a daemon memory
// it does not otherwise spend (docs/performance.md).
import type { Logger } from "pino";
import { ConfigError } from "../../config/settings.ts";
import type { ListenSpec } from "../../lib/listen-spec.ts";
import type { DaemonMetrics } from "./metrics.ts";

/** The daemon's metrics, or undefined when `listen` is not set; a failure to listen is a ConfigError naming `<daemon>.metricsListen`. */
export async function startMetricsIfSet(
  daemon: "inbound" | "outbound",
  listen: ListenSpec | undefined,
  logger: Logger,
): Promise<DaemonMetrics | undefined> {
  if (!listen) return undefined;
  const { startMetrics } = await import("./metrics.ts");
  return startMetrics(daemon, listen, logger.child({ part: "metrics" })).catch((err: unknown) => {
    throw new ConfigError(`${daemon}.${(err as Error).message}`);
  });
}
