// `semail report [--json] [--drift]`: what is wrong with this SEMail, in one place
// (services/report): DNS as served and the outbound addresses' reverse DNS, the certificate and
// the ports serving it, the directory, the queue, each mailbox's room, the backups, the
// containers, and whether the users list was applied. `--drift` adds the engine's refreshed
// preview of the stack (web.apply.stack), which takes tens of seconds. Exits 1 when anything
// FAILs, so a timer or a monitor can act on it. `--summary` adds the day's traffic from the
// daemons' logs and `--mail` stores it all in the admin mailbox (report-traffic.ts, report-mail.ts).
import { ConfigError, usersListOptions, type Settings } from "../config/settings.ts";
import { loadUsersList } from "../config/users-file.ts";
import { createDirectory } from "../directory/ldap.ts";
import { reportResolver } from "../services/report/checks/dns.ts";
import type { DriftPreview } from "../services/report/checks/drift.ts";
import { reportText, runReport } from "../services/report/report.ts";
import type { Command } from "./command.ts";
import { mailReport, reportSubject } from "./report-mail.ts";
import { readTraffic, TRAFFIC_FLAGS, trafficRequest } from "./report-traffic.ts";

/** The refreshed preview's changes, through the engine driver; loaded only when asked (the SDK is large). */
function enginePreview(settings: Settings): DriftPreview {
  return async () => {
    const [{ openEngine }, { stepLine }] = await Promise.all([
      import("../deploy/pulumi/engine.ts"),
      import("../deploy/pulumi/steps.ts"),
    ]);
    const engine = await openEngine({ projectDir: settings.web.apply.projectDir, stack: settings.web.apply.stack });
    return (await engine.preview({ refresh: true })).changes.map(stepLine);
  };
}

const report: Command = {
  name: "report",
  summary:
    "Check DNS and reverse DNS, the certificate and the ports serving it, the directory, the queue, every mailbox, the backups, the containers and drift; each finding OK, WARN or FAIL with its fix.",
  usage: "[--json] [--drift] [--summary --log SOURCE [--since 24h]] [--mail]",
  flags: [
    { name: "json", type: "boolean", description: "print the findings as JSON, for a machine" },
    {
      name: "drift",
      type: "boolean",
      description: "also run the engine's refreshed preview of the stack web.apply.stack (tens of seconds)",
    },
    ...TRAFFIC_FLAGS,
  ],
  async run(settings, { positionals, flags }) {
    if (positionals.length > 0) throw new ConfigError(`semail report: unexpected ${positionals.join(" ")}`);
    const traffic = trafficRequest(flags);
    const users = await loadUsersList(settings.users, usersListOptions(settings));
    const directory = createDirectory(settings.ldap);
    const now = new Date();
    try {
      const result = await runReport({
        settings,
        users,
        directory,
        resolver: reportResolver(settings),
        now,
        ...(flags.drift === true
          ? { drift: { stack: settings.web.apply.stack, preview: enginePreview(settings) } }
          : {}),
      });
      // The traffic summary (report-traffic.ts) after the findings, and all of it to the postmaster.
      const summary = traffic ? await readTraffic(traffic, now) : undefined;
      const text = `${reportText(result)}${summary?.text ?? ""}`;
      const json = { ...result, ...(summary?.traffic ? { traffic: summary.traffic } : {}) };
      process.stdout.write(flags.json === true ? `${JSON.stringify(json, null, 2)}\n` : text);
      if (flags.mail === true)
        await mailReport(settings, users, {
          subject: reportSubject(result, settings.hostname, summary?.traffic),
          body: text,
          now,
        });
      if (result.status === "FAIL" || summary?.problem !== undefined) process.exitCode = 1;
    } finally {
      await directory.close();
    }
  },
};

export default report;
