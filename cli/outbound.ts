// `semail outbound`: the submission daemon with the relay queue. Stops cleanly on
// SIGTERM/SIGINT (the queue journals what is in flight); a kill -9 loses nothing either.
// SIGHUP re-reads the users list.
import { startOutbound } from "../mailservers/outbound/daemon.ts";
import type { Command } from "./command.ts";
import { createLogger } from "../lib/logger.ts";
import { serveUntilStopped } from "./signals.ts";

const outbound: Command = {
  name: "outbound",
  summary:
    "The outbound SMTP daemon: authenticated submission on loopback and container addresses, a persistent queue, MX delivery with retries and bounces.",
  flags: [
    {
      name: "listen",
      setting: "outbound.listen",
      type: "string",
      multiple: true,
      value: "ADDR:PORT",
      description: "address to listen on (loopback or container network only)",
    },
    {
      name: "spool",
      setting: "outbound.spool",
      type: "string",
      value: "DIR",
      description: "spool directory of the queue",
    },
    {
      name: "resolver",
      setting: "outbound.delivery.resolver",
      type: "string",
      value: "HOST:PORT",
      description: "DNS server for MX lookups",
    },
    {
      name: "smtp-port",
      setting: "outbound.delivery.smtpPort",
      type: "string",
      value: "N",
      description: "destination port of MX hosts",
    },
    { name: "users", setting: "users", type: "string", value: "FILE", description: "the users list" },
    {
      name: "force-public",
      setting: "outbound.forcePublicListen",
      type: "boolean",
      description: "listen on a wildcard or public address anyway",
    },
  ],
  async run(settings) {
    const logger = createLogger(settings.log.level, "semail-outbound");
    await serveUntilStopped(logger, await startOutbound(settings, { logger }));
  },
};

export default outbound;
