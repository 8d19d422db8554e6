// `semail web --listen ADDR:PORT`: the self-service web form as a process (settings,
// logger, signals, listen); the app itself is built in webform/app.ts.
import { ConfigError, usersListOptions } from "../config/settings.ts";
import { createDirectory } from "../directory/ldap.ts";
import { readTlsFiles } from "../config/tls-files.ts";
import { isLoopbackHost } from "../lib/ip-networks.ts";
import { applierFromSettings } from "../deploy/from-settings.ts";
import { buildWebApp } from "../webform/app.ts";
import { webmailLink } from "../webform/mail-access.ts";
import { deployedTransport } from "../webform/transport-records.ts";
import { mailRootUsage } from "./mail-root-usage.ts";
import type { Command } from "./command.ts";
import { createLogger } from "../lib/logger.ts";
import { untilStopSignal } from "./signals.ts";

/** How long start-up waits for the stack's outputs (the Pulumi CLI) for the webmail link. */
const WEBMAIL_LOOKUP_MS = 15_000;

const web: Command = {
  name: "web",
  summary:
    "The self-service web form: LDAP login, create or delete a mailbox; each change updates the users list and applies it.",
  flags: [
    {
      name: "listen",
      setting: "web.listen",
      type: "string",
      value: "ADDR:PORT",
      description: "address of the form; /tls serves HTTPS with tls.cert and tls.key",
    },
    { name: "users", setting: "users", type: "string", value: "FILE", description: "users list the form rewrites" },
    {
      name: "apply",
      setting: "web.apply.mode",
      type: "string",
      value: "pulumi|none",
      description: "how a change is applied",
    },
    { name: "stack", setting: "web.apply.stack", type: "string", value: "NAME", description: "Pulumi stack to update" },
  ],
  async run(settings) {
    const logger = createLogger(settings.log.level, "semail-web");
    const listen = settings.web.listen;
    const loopback = isLoopbackHost(listen.host);
    if (!settings.web.secureCookies && !loopback) {
      throw new ConfigError(
        `web.secureCookies: false sends session cookies over plain HTTP; allowed only on a loopback web.listen, not ${listen.spec}`,
      );
    }
    let https;
    if (listen.implicitTls) {
      if (settings.tls.cert === undefined || settings.tls.key === undefined)
        throw new ConfigError("web.listen: /tls needs tls.cert and tls.key");
      https = await readTlsFiles(settings.tls);
    } else if (settings.web.secureCookies && !loopback) {
      logger.warn(
        { listen: listen.spec },
        "serving plain HTTP with secure cookies: put an HTTPS reverse proxy in front (and set web.trustProxy)",
      );
    }
    let directory;
    try {
      directory = createDirectory(settings.ldap, { logger });
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    const applier = applierFromSettings(settings);
    // The webmail the stack runs, unless web.webmailUrl names one; the MTA-STS policy it serves.
    const [webmailUrl, deployed] = await Promise.all([
      webmailLink(settings.web, applier, WEBMAIL_LOOKUP_MS),
      deployedTransport(applier, WEBMAIL_LOOKUP_MS),
    ]);
    if (deployed.problem !== undefined)
      logger.warn(
        { err: deployed.problem },
        "the stack's MTA-STS settings could not be read: external domains are shown the records of SEMail's defaults",
      );
    if (webmailUrl !== settings.web.webmailUrl)
      logger.info({ webmailUrl }, "webmail link from the stack's output webmailUrl");
    if (settings.web.sessionSecret === undefined)
      logger.info("web.sessionSecret not set: a random one is used; a restart logs everyone out");
    const { app } = await buildWebApp({
      directory,
      usersFile: settings.users,
      usersListOptions: usersListOptions(settings),
      applier,
      web: webmailUrl === undefined ? settings.web : { ...settings.web, webmailUrl },
      logger,
      transport: deployed.transport,
      // The administrators' page: each mailbox's use where the mail is here, and the health report.
      usage: mailRootUsage(settings.inbound.mailRoot),
      report: { settings },
      ...(https ? { https } : {}),
    });
    await app.listen({ host: listen.host, port: listen.port });
    const scheme = https ? "https" : "http";
    const urls = app
      .addresses()
      .map((a) =>
        typeof a === "string" ? a : `${scheme}://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}/`,
      );
    logger.info({ urls, applier: applier.name, users: settings.users }, "web form listening");

    await untilStopSignal(logger);
    // Waits for a running apply to stop (it is sent the abort signal) before leaving.
    await app.close();
    await directory.close();
  },
};

export default web;
