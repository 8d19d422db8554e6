// `semail restore [--mailbox ID] [--at SNAPSHOT]`: from the restic repository (services/backup).
// One mailbox is put back under its locks while the daemon delivers (mail that arrives meanwhile
// lands after the restored content); without --mailbox, everything goes back to its own path
// and the directory's LDIF is left for slapadd.
import { ConfigError } from "../config/settings.ts";
import { ResticError, restoreAll, restoreMailbox, type RestoreResult } from "../services/backup/index.ts";
import type { Command } from "./command.ts";

const restore: Command = {
  name: "restore",
  summary: "Restore one mailbox, or everything, from a backup snapshot (the latest unless --at).",
  flags: [
    { name: "mailbox", type: "string", value: "ID", description: "restore only this mailbox (its owner id)" },
    {
      name: "at",
      type: "string",
      value: "SNAPSHOT",
      description: "the snapshot to restore (see `semail backup list`)",
    },
    { name: "json", type: "boolean", description: "print the result as JSON" },
  ],
  async run(settings, { positionals, flags }) {
    if (positionals.length > 0) throw new ConfigError(`semail restore: unexpected ${positionals.join(" ")}`);
    const at = typeof flags.at === "string" ? flags.at : "latest";
    let result: RestoreResult;
    try {
      result =
        typeof flags.mailbox === "string"
          ? await restoreMailbox(settings, flags.mailbox, at)
          : await restoreAll(settings, at);
    } catch (error) {
      if (!(error instanceof ResticError)) throw error;
      process.stderr.write(`semail restore: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : restoreText(result));
  },
};

function restoreText(result: RestoreResult): string {
  const lines = [`restored from snapshot ${result.snapshot}`];
  for (const p of result.paths) lines.push(`  ${p}`);
  for (const [owner, files] of Object.entries(result.mailboxes))
    lines.push(
      `  mailbox ${owner}: ${Object.entries(files)
        .map(([f, how]) => `${f} ${how}`)
        .join(", ")}`,
    );
  if (result.directoryLdif)
    lines.push(
      `the directory's LDIF is in ${result.directoryLdif}: load it into a stopped, empty slapd with \`slapadd -n 1 -l ${result.directoryLdif}\``,
    );
  return `${lines.join("\n")}\n`;
}

export default restore;
