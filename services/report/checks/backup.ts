// The last backup (backup.stateDir/status.json, written by `semail backup`): none configured is a
// warning; a failed one, or none for longer than BACKUP_MAX_AGE_DAYS, is a failure.
import type { Settings } from "../../../config/settings.ts";
import { readBackupStatus, repositoryOf } from "../../backup/index.ts";
import { fail, ok, warn, type Finding } from "../check.ts";

/** The timer runs daily; two days without a good backup means it stopped. */
export const BACKUP_MAX_AGE_DAYS = 2;
const DAY_MS = 86_400_000;

export async function backupFindings(settings: Settings, now: Date): Promise<Finding[]> {
  const repo = repositoryOf(settings.backup);
  if (!repo)
    return [
      warn(
        "backup",
        "backup.repository",
        "no backup is configured: a lost disk loses the mail",
        "set backup.repository and backup.passwordFile (on the VM: the stack's backupRepository and backupPassword)",
      ),
    ];
  const status = await readBackupStatus(settings.backup.stateDir);
  if (!status)
    return [fail("backup", repo.repository, "no backup has run yet", "run `semail backup` and read its output")];
  if (status.outcome === "failed")
    return [
      fail(
        "backup",
        repo.repository,
        `the last backup (${status.at}) failed: ${status.error ?? "no reason given"}${status.lastSuccessAt ? `; the last good one is from ${status.lastSuccessAt}` : ""}`,
        "run `semail backup` and read its error",
      ),
    ];
  const days = (now.getTime() - new Date(status.at).getTime()) / DAY_MS;
  if (days > BACKUP_MAX_AGE_DAYS)
    return [
      fail(
        "backup",
        repo.repository,
        `the last backup is ${Math.floor(days)} days old (${status.at}, snapshot ${status.snapshot})`,
        "check the backup timer (systemctl status semail-backup.timer) and run `semail backup`",
      ),
    ];
  return [ok("backup", repo.repository, `snapshot ${status.snapshot} at ${status.at}, ${status.mailboxes} mailboxes`)];
}
