// The stack's backup settings (`pulumi config`), for the restic backups the VM makes on a
// systemd timer (components/backup-schedule.ts): where the repository is, when it runs and how
// many snapshots it keeps. The repository's password is the secret backupPassword. An empty
// repository means no backups. (components/backup-schedule.ts's validateBackupSchedule checks the
// same again when the timer is made, with the same isOnCalendar.)

import { isOnCalendar } from "./systemd-calendar.ts";

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const BACKUP_SETTINGS = {
  backupRepository: [
    "",
    "The restic repository the VM backs up to (a path on the VM, sftp:, s3:, rest:...), with the secret backupPassword; empty for no backups.",
  ],
  backupSchedule: ["daily", "When the backup runs: a systemd OnCalendar such as daily or *-*-* 03:00."],
  backupKeepDaily: ["7", "Daily snapshots kept after each backup (restic forget --keep-daily)."],
  backupKeepWeekly: ["4", "Weekly snapshots kept after each backup (restic forget --keep-weekly)."],
  backupKeepMonthly: ["12", "Monthly snapshots kept after each backup (restic forget --keep-monthly)."],
} as const;

export interface BackupStackSettings {
  /** "" for no backups. */
  readonly backupRepository: string;
  readonly backupSchedule: string;
  readonly backupKeepDaily: number;
  readonly backupKeepWeekly: number;
  readonly backupKeepMonthly: number;
}

const set = (key: string, example: string) => `(pulumi config set ${key} ${example})`;

/**
 * Parses the raw values (trimmed; the default where unset). Every problem names its setting and
 * how to fix it, as stack-config.ts's do.
 */
export function parseBackupStackSettings(raw: Readonly<Record<keyof typeof BACKUP_SETTINGS, string>>): {
  readonly settings: BackupStackSettings;
  readonly problems: string[];
} {
  const problems: string[] = [];
  const count = (key: "backupKeepDaily" | "backupKeepWeekly" | "backupKeepMonthly"): number => {
    if (/^\d{1,4}$/.test(raw[key])) return Number(raw[key]);
    problems.push(
      `semail:${key} ${JSON.stringify(raw[key])} must be a whole number, 0 or more ${set(key, BACKUP_SETTINGS[key][0])}`,
    );
    return 0;
  };
  const settings: BackupStackSettings = {
    backupRepository: raw.backupRepository,
    backupSchedule: raw.backupSchedule,
    backupKeepDaily: count("backupKeepDaily"),
    backupKeepWeekly: count("backupKeepWeekly"),
    backupKeepMonthly: count("backupKeepMonthly"),
  };
  if (/[\r\n]/.test(settings.backupRepository))
    problems.push(
      `semail:backupRepository must be one line: restic's repository ${set("backupRepository", "sftp:backup@host:/semail")}`,
    );
  if (!isOnCalendar(settings.backupSchedule))
    problems.push(
      `semail:backupSchedule ${JSON.stringify(settings.backupSchedule)} is not a systemd OnCalendar such as daily or *-*-* 03:00 ${set("backupSchedule", "daily")}`,
    );
  return { settings, problems };
}
