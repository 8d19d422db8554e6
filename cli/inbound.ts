// `semail inbound`: the inbound SMTP daemon. SIGHUP reloads the users list; SIGTERM and
// SIGINT stop it after open sessions finish. A kill -9 loses nothing that got a 250.
import { startInbound } from "../mailservers/inbound/daemon.ts";
import type { Command } from "./command.ts";
import { createLogger } from "../lib/logger.ts";
import { serveUntilStopped } from "./signals.ts";

const inbound: Command = {
  name: "inbound",
  summary:
    "The inbound SMTP daemon: accepts mail for the addresses in the users list and appends it, fsynced, to each owner's mbox files.",
  flags: [
    {
      name: "listen",
      setting: "inbound.listen",
      type: "string",
      multiple: true,
      value: "ADDR:PORT",
      description: "address to listen on; append /tls for implicit TLS",
    },
    {
      name: "users",
      setting: "users",
      type: "string",
      value: "FILE",
      description: "the users list (reloaded when it changes and on SIGHUP)",
    },
    {
      name: "mail-root",
      setting: "inbound.mailRoot",
      type: "string",
      value: "DIR",
      description: "directory of the mailbox roots, <DIR>/<owner>/",
    },
    {
      name: "hostname",
      setting: "hostname",
      type: "string",
      value: "NAME",
      description: "our name in the greeting and Received headers",
    },
    {
      name: "managed-domain",
      setting: "managedDomain",
      type: "string",
      value: "DOMAIN",
      description: "the managed domain (its postmaster@ and abuse@ are served)",
    },
    {
      name: "max-message-size",
      setting: "inbound.maxMessageSize",
      type: "string",
      value: "SIZE",
      description: "largest message accepted, e.g. 50MiB",
    },
    {
      name: "admin-owner",
      setting: "inbound.adminOwner",
      type: "string",
      value: "UID",
      description: "owner whose mailbox gets postmaster@ and abuse@ mail",
    },
    {
      name: "log-level",
      setting: "log.level",
      type: "string",
      value: "LEVEL",
      description: "fatal, error, warn, info, debug, trace or silent",
    },
  ],
  async run(settings) {
    const logger = createLogger(settings.log.level, "semail-inbound");
    await serveUntilStopped(logger, await startInbound(settings, { logger }));
  },
};

export default inbound;
