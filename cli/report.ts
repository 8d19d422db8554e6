// `semail report [--json]`: what is wrong with this SEMail, in one place (services/report):
// DNS as served, the certificate, the directory, the queue, each mailbox's room. Exits 1 when
// anything FAILs, so a timer or a monitor can act on it.
import { ConfigError, usersListOptions } from "../config/settings.ts";
import { loadUsersList } from "../config/users-file.ts";
import { createDirectory } from "../directory/ldap.ts";
import { reportResolver } from "../services/report/checks/dns.ts";
import { reportText, runReport } from "../services/report/report.ts";
import type { Command } from "./command.ts";

const report: Command = {
  name: "report",
  summary:
    "Check DNS, the certificate, the directory, the queue and every mailbox; each finding OK, WARN or FAIL with its fix.",
  usage: "[--json]",
  flags: [{ name: "json", type: "boolean", description: "print the findings as JSON, for a machine" }],
  async run(settings, { positionals, flags }) {
    if (positionals.length > 0) throw new ConfigError(`semail report: unexpected ${positionals.join(" ")}`);
    const users = await loadUsersList(settings.users, usersListOptions(settings));
    const directory = createDirectory(settings.ldap);
    try {
      const result = await runReport({
        settings,
        users,
        directory,
        resolver: reportResolver(settings),
        now: new Date(),
      });
      process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : reportText(result));
      if (result.status === "FAIL") process.exitCode = 1;
    } finally {
      await directory.close();
    }
  },
};

export default report;
