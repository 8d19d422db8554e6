// restic, run as a child with the repository and the password file in its environment
// (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE): the password is never on a command line, and
// restic's own messages never contain it. restic gives the encryption, the deduplication,
// the retention and the many kinds of repository (a path, sftp:, s3:, rest:...).
import { spawn } from "node:child_process";
import type { BackupSettings } from "../../config/sections/backup.ts";

export class ResticError extends Error {
  override readonly name = "ResticError";
}

/** What restic needs to find and open the repository. */
export interface Repository {
  readonly restic: string;
  readonly repository: string;
  readonly passwordFile: string;
}

/** The repository of the settings, or undefined when no backup is configured. */
export function repositoryOf(backup: BackupSettings): Repository | undefined {
  if (backup.repository === undefined || backup.passwordFile === undefined) return undefined;
  return { restic: backup.restic, repository: backup.repository, passwordFile: backup.passwordFile };
}

/**
 * Runs `restic ARGS`; resolves with its stdout, or rejects with the end of its stderr. `partial`:
 * exit 3 too, restic's "snapshot made, but some files could not be read" (a spool file
 * delivered and removed while restic walked the folder).
 */
export function restic(repo: Repository, args: readonly string[], partial = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(repo.restic, [...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        RESTIC_REPOSITORY: repo.repository,
        RESTIC_PASSWORD_FILE: repo.passwordFile,
        RESTIC_PASSWORD: undefined,
        RESTIC_PASSWORD_COMMAND: undefined,
      },
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (err = (err + chunk.toString()).slice(-4000)));
    child.on("error", (error) => reject(new ResticError(`cannot run ${repo.restic}: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0 || (partial && code === 3)) resolve(Buffer.concat(out).toString());
      else
        reject(
          new ResticError(`restic ${args[0]} failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" ")}`),
        );
    });
  });
}

/** Makes the repository on first use; an existing one is left alone. */
export async function ensureRepository(repo: Repository): Promise<void> {
  try {
    await restic(repo, ["cat", "config", "--quiet"]);
  } catch (notThere) {
    try {
      await restic(repo, ["init", "--quiet"]);
    } catch (error) {
      throw new ResticError(`${(notThere as Error).message}; and init: ${(error as Error).message}`);
    }
  }
}

/** One snapshot, as `restic snapshots --json` lists it. */
export interface Snapshot {
  readonly id: string;
  readonly short_id: string;
  readonly time: string;
  readonly paths: readonly string[];
  readonly hostname: string;
  readonly tags?: readonly string[];
}

/** The tag on every snapshot `semail backup` makes. */
export const SNAPSHOT_TAG = "semail";

export async function listSnapshots(repo: Repository): Promise<Snapshot[]> {
  const text = await restic(repo, ["snapshots", "--json", "--tag", SNAPSHOT_TAG]);
  const snapshots = JSON.parse(text) as Snapshot[] | null;
  return (snapshots ?? []).sort((a, b) => a.time.localeCompare(b.time));
}
