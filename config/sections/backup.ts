// Settings of the backups (services/backup, `semail backup`, `semail restore`): the restic
// repository and its password file, how the directory is dumped, what else to include and how
// long snapshots are kept. What to back up is derived from the other sections (the mail root,
// the users list, the spool, the keys, the TLS files, the ACME state): see services/backup/plan.ts.
import * as z from "zod/mini";
import { integer, nonEmpty } from "./common.ts";

const argv = () => z.array(nonEmpty());

export const backupSettings = z
  .strictObject({
    /** The restic repository: a path, or sftp:, s3:, rest:... (restic's RESTIC_REPOSITORY); unset: no backups. */
    repository: z.optional(nonEmpty()),
    /** File holding the repository's password (mode 0600; a stack secret on the VM); never on a command line. */
    passwordFile: z.optional(nonEmpty()),
    /** The restic program. */
    restic: z._default(nonEmpty(), "restic"),
    /** The backup's own files: status.json (the report reads it) and the staging copy of the mailboxes, made under their locks. */
    stateDir: z._default(nonEmpty(), "/var/lib/semail/backup"),
    /** Dumps the directory as LDIF on stdout (on the VM slapd runs in its container: prefix `docker exec`); [] for none. */
    slapcat: z._default(argv(), ["slapcat", "-n", "1"]),
    /** The Pulumi state directory (a file:// backend's folder), when this machine holds it. */
    pulumiStateDir: z.optional(nonEmpty()),
    /** More files or folders to include, e.g. the DKIM keys' folder when it is not named by outbound.delivery.dkim. */
    paths: z._default(z.array(nonEmpty()), []),
    /** How many daily, weekly and monthly snapshots `restic forget --prune` keeps after each backup. */
    keepDaily: z._default(integer(0, 3650), 7),
    keepWeekly: z._default(integer(0, 520), 4),
    keepMonthly: z._default(integer(0, 240), 12),
  })
  .check(
    z.refine((b) => (b.repository === undefined) === (b.passwordFile === undefined), {
      message: "backup.repository and backup.passwordFile go together: set both or neither",
    }),
  );

export type BackupSettings = z.output<typeof backupSettings>;
