// `semail cert [renew | status]`: the certificate from ACME (services/acme). `renew` (the
// default) issues one when none is installed, when the names changed or when it is due, installs
// it where tls.cert and tls.key say and runs the acme.reload commands; `--force` issues now.
// `status` prints the last run's status.json. The VM runs `renew` twice a day from a timer.
// The policy hosts' own certificates (acme.hosts) are renewed in the same run and shown under
// `hosts`; one that failed leaves the exit status 0 (the main certificate's run decides it, so the
// timer still installs a new main one) and says which names are served without it.
import { ConfigError } from "../config/settings.ts";
import { createLogger } from "../lib/logger.ts";
import { readCertificateStatus, readHostCertificatesStatus, renewFromSettings } from "../services/acme/index.ts";
import type { Command } from "./command.ts";

const cert: Command = {
  name: "cert",
  summary:
    "Issue or renew the TLS certificate from an ACME CA (DNS-01 in our own zone, or HTTP-01), or show its status.",
  usage: "renew | status",
  flags: [
    { name: "force", type: "boolean", description: "issue a new certificate even when the one in use is not due" },
    {
      name: "directory-url",
      setting: "acme.directoryUrl",
      type: "string",
      value: "URL",
      description: "the CA's ACME directory",
    },
  ],
  async run(settings, { positionals, flags }) {
    const [action = "renew", ...rest] = positionals;
    if (rest.length > 0) throw new ConfigError(`semail cert: unexpected ${rest.join(" ")}`);
    if (action === "status") {
      const main = await readCertificateStatus(settings.acme.stateDir);
      const hosts = await readHostCertificatesStatus(settings.acme.stateDir);
      const status = main && hosts ? { ...main, hosts } : main;
      process.stdout.write(
        status ? `${JSON.stringify(status, null, 2)}\n` : `no status yet in ${settings.acme.stateDir}\n`,
      );
      return;
    }
    if (action !== "renew") throw new ConfigError(`semail cert: unknown action ${JSON.stringify(action)}`);
    if (settings.tls.cert === undefined)
      throw new ConfigError("tls.cert and tls.key: set where the certificate and its key are written");
    if (settings.acme.challenge === "dns-01" && settings.acme.zoneFile === undefined)
      throw new ConfigError("acme.zoneFile: DNS-01 needs the installed zone file to add the challenge records to");
    const logger = createLogger(settings.log.level, "semail-cert");
    const status = await renewFromSettings(settings, logger, flags.force === true);
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    if (status.outcome === "failed") process.exitCode = 1;
  },
};

export default cert;
