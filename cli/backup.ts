// `semail backup [run | list]`: a backup into the restic repository (services/backup): every
// mailbox copied under its locks, the directory's dump, the users list, the spool, the keys,
// the TLS files, the ACME and Pulumi state; then the retention. `list` prints the snapshots.
// The result goes to status.json, which `semail report` reads; exits 1 when the backup failed.
// The VM runs it daily from a timer (components/backup-schedule.ts).
import { ConfigError } from "../config/settings.ts";
import { configuredRepository, listSnapshots, ResticError, runBackup } from "../services/backup/index.ts";
import type { Command } from "./command.ts";

const backup: Command = {
  name: "backup",
  summary:
    "Back up the mailboxes, the directory, the users list, keys, TLS files, spool and state with restic, or list the snapshots.",
  usage: "[run | list]",
  flags: [{ name: "json", type: "boolean", description: "print the result or the snapshots as JSON" }],
  async run(settings, { positionals, flags }) {
    const [action = "run", ...rest] = positionals;
    if (rest.length > 0) throw new ConfigError(`semail backup: unexpected ${rest.join(" ")}`);
    if (action === "list") {
      const snapshots = await listSnapshots(configuredRepository(settings)).catch((error: unknown) => {
        if (error instanceof ResticError) process.stderr.write(`semail backup list: ${error.message}\n`);
        else throw error;
      });
      if (!snapshots) {
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        flags.json === true
          ? `${JSON.stringify(snapshots, null, 2)}\n`
          : snapshots.length === 0
            ? "no snapshots yet\n"
            : `${snapshots.map((s) => `${s.short_id}  ${s.time}  ${s.hostname}`).join("\n")}\n`,
      );
      return;
    }
    if (action !== "run") throw new ConfigError(`semail backup: unknown action ${JSON.stringify(action)}`);
    configuredRepository(settings);
    const status = await runBackup(settings);
    process.stdout.write(
      flags.json === true
        ? `${JSON.stringify(status, null, 2)}\n`
        : status.outcome === "ok"
          ? `snapshot ${status.snapshot}: ${status.mailboxes} mailboxes, ${status.bytesProcessed} bytes read, ${status.bytesAdded} added\n`
          : `backup failed: ${status.error}\n`,
    );
    if (status.outcome === "failed") process.exitCode = 1;
  },
};

export default backup;
