// One backup: stage the mailboxes (each copied under its locks) and the directory's dump, let
// restic read the staging folder and the other files in place into one snapshot, apply the
// retention (`restic forget --prune`), and record the result in status.json whatever happens.
// The staging folder is emptied afterwards: it holds a copy of all the mail.
import { access, mkdir, rm, stat } from "node:fs/promises";
import { ConfigError, type Settings } from "../../config/settings.ts";
import { plainPaths, stagingDir } from "./plan.ts";
import { ensureRepository, repositoryOf, restic, SNAPSHOT_TAG, type Repository } from "./restic.ts";
import { withRunLock } from "./run-lock.ts";
import { dumpDirectory, stageMailboxes } from "./stage.ts";
import { readBackupStatus, writeBackupStatus, type BackupStatus } from "./status.ts";

/** A usage error (ConfigError): `semail` says it and exits 2. */
export class BackupNotConfiguredError extends ConfigError {
  override readonly name = "BackupNotConfiguredError";
  constructor() {
    super(
      "backup.repository and backup.passwordFile: set where restic keeps the backups and the file with its password",
    );
  }
}

/** The repository of the settings; throws when none is configured. */
export function configuredRepository(settings: Settings): Repository {
  const repo = repositoryOf(settings.backup);
  if (!repo) throw new BackupNotConfiguredError();
  return repo;
}

/** restic's summary line of `backup --json`. */
interface BackupSummary {
  readonly message_type: "summary";
  readonly snapshot_id: string;
  readonly total_bytes_processed: number;
  readonly data_added: number;
}

export async function runBackup(settings: Settings, now: () => Date = () => new Date()): Promise<BackupStatus> {
  const repo = configuredRepository(settings);
  const stateDir = settings.backup.stateDir;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const previous = await readBackupStatus(stateDir).catch(() => undefined);
  let status: BackupStatus;
  try {
    await checkPasswordFile(repo.passwordFile);
    await ensureRepository(repo);
    const { mailboxes, summary } = await withRunLock(stateDir, async () => {
      try {
        const owners = await stageMailboxes(settings);
        await dumpDirectory(settings);
        const paths = [stagingDir(settings), ...(await existing(plainPaths(settings)))];
        return { mailboxes: owners, summary: await snapshot(repo, paths) };
      } finally {
        // It holds a copy of all the mail.
        await rm(stagingDir(settings), { recursive: true, force: true });
      }
    });
    await restic(repo, [
      "forget",
      "--prune",
      "--quiet",
      "--tag",
      SNAPSHOT_TAG,
      "--keep-daily",
      String(settings.backup.keepDaily),
      "--keep-weekly",
      String(settings.backup.keepWeekly),
      "--keep-monthly",
      String(settings.backup.keepMonthly),
    ]);
    const at = now().toISOString();
    status = {
      outcome: "ok",
      at,
      snapshot: summary.snapshot_id,
      bytesProcessed: summary.total_bytes_processed,
      bytesAdded: summary.data_added,
      mailboxes: mailboxes.length,
      lastSuccessAt: at,
    };
  } catch (error) {
    status = {
      outcome: "failed",
      at: now().toISOString(),
      error: (error as Error).message,
      ...(previous?.lastSuccessAt !== undefined ? { lastSuccessAt: previous.lastSuccessAt } : {}),
    };
  }
  await writeBackupStatus(stateDir, status);
  return status;
}

async function snapshot(repo: Repository, paths: readonly string[]): Promise<BackupSummary> {
  const out = await restic(repo, ["backup", "--json", "--tag", SNAPSHOT_TAG, "--", ...paths], true);
  const summary = out
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { message_type?: string })
    .find((m): m is BackupSummary => m.message_type === "summary");
  if (!summary) throw new Error("restic backup printed no summary");
  return summary;
}

/** The planned paths that exist now (a spool not made yet, no TLS files yet: nothing to keep). */
async function existing(planned: ReadonlyArray<{ path: string }>): Promise<string[]> {
  const found: string[] = [];
  for (const { path } of planned)
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      found.push(path);
  return found;
}

/** The password file is a secret: readable by its owner alone (restic itself does not check). */
async function checkPasswordFile(file: string): Promise<void> {
  const { mode } = await stat(file).catch((error: Error) => {
    throw new Error(`backup.passwordFile: cannot read ${file}: ${error.message}`);
  });
  if ((mode & 0o077) !== 0)
    throw new Error(
      `backup.passwordFile: ${file} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`,
    );
}
