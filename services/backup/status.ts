// The last backup's result, kept as status.json in backup.stateDir: `semail report` reads it
// (services/report/checks/backup.ts), and an operator can `cat` it.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../../lib/durable-file.ts";

export interface BackupStatus {
  readonly outcome: "ok" | "failed";
  /** When the run ended. */
  readonly at: string;
  /** The snapshot made (restic's short id), on success. */
  readonly snapshot?: string;
  /** Bytes read and bytes added to the repository, on success. */
  readonly bytesProcessed?: number;
  readonly bytesAdded?: number;
  /** The mailboxes copied. */
  readonly mailboxes?: number;
  /** Why it failed. */
  readonly error?: string;
  /** The last run that succeeded, kept across failures. */
  readonly lastSuccessAt?: string;
}

const statusFile = (stateDir: string) => path.join(stateDir, "status.json");

export async function readBackupStatus(stateDir: string): Promise<BackupStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusFile(stateDir), "utf8")) as BackupStatus;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export async function writeBackupStatus(stateDir: string, status: BackupStatus): Promise<void> {
  await writeFileAtomic(statusFile(stateDir), `${JSON.stringify(status, null, 2)}\n`, 0o644);
}
