// `semail start`: all of SEMail on this machine, on loopback, with demo users
// (deploy/local/start-local-mode.ts). This file is the process around it: flags, signals,
// the log file, the banner, and what the terminal says when it stops.
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { ConfigError } from "../config/settings.ts";
import { localSecrets } from "../deploy/local/defaults.ts";
import { inboundParts, prepareDataDir } from "../deploy/local/local-settings.ts";
import { loopsOfImages, stayText } from "../deploy/local/release-loop-mounts.ts";
import { startLocalMode } from "../deploy/local/start-local-mode.ts";
import { createLogger } from "../lib/logger.ts";
import type { Command } from "./command.ts";
import { missingPackages } from "./local-packages.ts";
import { RunningParts } from "./running-parts.ts";
import { untilStopSignal } from "./signals.ts";
import { banner, containersText } from "./start-banner.ts";
import { startLocalWebForm } from "./start-web-form.ts";

const say = (line: string) => void process.stdout.write(`${line}\n`);

/** Runs `work` with a signal a further Ctrl-C aborts: a second one ends the wait for a busy mailbox, a third stops at once. */
async function hurriedBySigint(work: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const hurry = new AbortController();
  const again = () => hurry.abort();
  process.once("SIGINT", again);
  try {
    await work(hurry.signal);
  } finally {
    process.off("SIGINT", again);
  }
}

const start: Command = {
  name: "start",
  ownSettings: "<data-dir>/semail.yaml",
  summary:
    "All of SEMail on this machine, on loopback: slapd with demo users, named with the local zone, both SMTP daemons and the web form.",
  flags: [
    {
      name: "data-dir",
      type: "string",
      value: "DIR",
      description: "where local mode keeps its settings, directory, zone, mail and queue (default var/local)",
    },
    {
      name: "free-ports",
      type: "boolean",
      description: "pick free loopback ports instead of the defaults (rewrites <data-dir>/semail.yaml)",
    },
    {
      name: "no-images",
      type: "boolean",
      description: "keep mailboxes as plain directories even as root (no image files, no loop mounts)",
    },
    {
      name: "no-containers",
      type: "boolean",
      description: "no users' containers, no Docker (mail is read from the files on this machine)",
    },
  ],
  async run(_defaults, { flags }) {
    const dataDir = resolve(typeof flags["data-dir"] === "string" ? flags["data-dir"] : "var/local");
    const images = process.getuid?.() === 0 && flags["no-images"] !== true;
    const missing = await missingPackages(images);
    if (missing.length > 0)
      throw new ConfigError(`missing programs; install them with:\n  apt-get install ${missing.join(" ")}`);

    const freePorts = flags["free-ports"] === true;
    const { settings, settingsFile } = await prepareDataDir(dataDir, freePorts);
    const secrets = await localSecrets(dataDir);
    const logger = createLogger(
      settings.log.level,
      "semail-start",
      pino.destination({ dest: join(dataDir, "semail.log"), mkdir: true, sync: false }),
    );
    const parts = new RunningParts(say, logger);
    let signal: NodeJS.Signals | undefined;
    try {
      // A Ctrl-C while starting (the first image build takes minutes) ends the build; what
      // had started is stopped below, once starting returns.
      const starting = new AbortController();
      const interrupt = (sig: NodeJS.Signals) => {
        signal = sig;
        starting.abort();
      };
      process.once("SIGINT", interrupt).once("SIGTERM", interrupt);
      const local = await startLocalMode({
        dataDir,
        settings,
        secrets,
        images,
        containers: flags["no-containers"] !== true,
        freePorts,
        logger,
        say,
        onStop: (name, stop) => parts.add(name, stop),
        signal: starting.signal,
        hurry: hurriedBySigint,
        startWebForm: startLocalWebForm,
      }).finally(() => process.off("SIGINT", interrupt).off("SIGTERM", interrupt));
      // Interrupted: `finally` below stops what had started.
      if (local === undefined || starting.signal.aborted) return;
      if (local.firstApplyFailed !== undefined)
        process.stderr.write(`warning: the first local apply failed: ${local.firstApplyFailed}\n`);

      const { space, imap, webmail, mailClients, mailboxes } = local;
      const running = local.settings;
      const storage = images
        ? `ext4 image files in ${join(dataDir, "images")}, loop-mounted under ${running.inbound.mailRoot}`
        : `plain directories under ${running.inbound.mailRoot} (not root: no image files)`;
      const owners = mailboxes.map((m) => m.owner);
      const mx = inboundParts(running).find((p) => p.part === "inbound SMTP")!.listen;
      process.stdout.write(
        banner(running, {
          passwords: secrets.passwords,
          dataDir,
          storage,
          containers: await containersText(space, owners),
          inbound: mx,
          imap,
          webmail,
          mailClients,
          mailboxes,
        }),
      );
      const containers =
        "reason" in space
          ? { off: space.reason }
          : { jumpPort: space.jumpPort, network: space.network.name, dockerHost: space.docker.host };
      await writeFile(
        join(dataDir, "ready.json"),
        `${JSON.stringify({ settings: settingsFile, pid: process.pid, passwords: secrets.passwords, containers })}\n`,
        { mode: 0o600 },
      );
      signal = await untilStopSignal(logger, () => local.requestApply("SIGHUP"));
      await rm(join(dataDir, "ready.json"), { force: true });
    } finally {
      await parts.stopAll(
        signal ? `\nStopping SEMail (${signal === "SIGINT" ? "Ctrl-C" : signal}):` : "Stopping what had started:",
      );
      // A loop device of ours still attached (a mailbox still in use) is said on the last line too, never hidden by it.
      const attached = images ? await loopsOfImages(join(dataDir, "images")) : [];
      const stopped =
        attached.length === 0
          ? "SEMail is stopped; its"
          : `SEMail is stopped, except: ${attached.map(stayText).join("; and ")}. Its`;
      if (signal) process.stdout.write(`${stopped} data stays in ${dataDir} for the next start.\n`);
      logger.flush();
    }
  },
};

export default start;
