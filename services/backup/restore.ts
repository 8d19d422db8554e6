// Restores from a snapshot (the latest by default). One mailbox: its saved copy is restored into
// a scratch folder, then put back under its locks (place-mailbox.ts) while the store keeps
// delivering. Everything: every file the snapshot read in place goes back to its own path, every
// mailbox as above, and the directory's LDIF is left in backup.stateDir for slapadd (a directory
// is loaded into a stopped, empty slapd: that is the operator's step, printed at the end).
import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { ConfigError, type Settings } from "../../config/settings.ts";
import { configuredRepository } from "./backup.ts";
import { placeMailbox, type Placed } from "./place-mailbox.ts";
import { stagedDirectory, stagedMailbox, stagingDir } from "./plan.ts";
import { listSnapshots, restic, type Repository, type Snapshot } from "./restic.ts";
import { withRunLock } from "./run-lock.ts";

export interface RestoreResult {
  readonly snapshot: string;
  /** Each mailbox put back, and what happened to each of its mbox files. */
  readonly mailboxes: Record<string, Placed>;
  /** Files and folders restored to their own paths (a whole restore). */
  readonly paths: readonly string[];
  /** The directory's LDIF, ready for slapadd (a whole restore whose snapshot has one). */
  readonly directoryLdif?: string;
}

/** A usage error (ConfigError): `semail` says it and exits 2. */
export class SnapshotNotFoundError extends ConfigError {
  override readonly name = "SnapshotNotFoundError";
}

/** Restores the mailbox of `owner` from snapshot `at` ("latest" or an id). */
export async function restoreMailbox(settings: Settings, owner: string, at = "latest"): Promise<RestoreResult> {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(owner))
    throw new SnapshotNotFoundError(`${JSON.stringify(owner)} is not a mailbox id`);
  const repo = configuredRepository(settings);
  const snap = await findSnapshot(repo, at);
  return withScratch(settings, async (scratch) => {
    await restic(repo, ["restore", snap.id, "--target", scratch, "--include", stagedMailbox(settings, owner)]);
    const saved = path.join(scratch, stagedMailbox(settings, owner));
    if (
      !(await readdir(saved).then(
        () => true,
        () => false,
      ))
    )
      throw new SnapshotNotFoundError(`snapshot ${snap.short_id} holds no mailbox ${JSON.stringify(owner)}`);
    const placed = await placeMailbox(saved, path.join(settings.inbound.mailRoot, owner), settings.inbound.lockTimeout);
    return { snapshot: snap.short_id, mailboxes: { [owner]: placed }, paths: [] };
  });
}

/** Restores everything the snapshot holds to where it was read. */
export async function restoreAll(settings: Settings, at = "latest"): Promise<RestoreResult> {
  const repo = configuredRepository(settings);
  const snap = await findSnapshot(repo, at);
  const staging = stagingDir(settings);
  const paths = snap.paths.filter((p) => p !== staging);
  if (paths.length > 0)
    await restic(repo, ["restore", snap.id, "--target", "/", ...paths.flatMap((p) => ["--include", p])]);
  return withScratch(settings, async (scratch) => {
    await restic(repo, ["restore", snap.id, "--target", scratch, "--include", staging]);
    const savedMail = path.join(scratch, staging, "mail");
    const owners = await readdir(savedMail).catch(() => [] as string[]);
    const mailboxes: Record<string, Placed> = {};
    for (const owner of owners.sort())
      mailboxes[owner] = await placeMailbox(
        path.join(savedMail, owner),
        path.join(settings.inbound.mailRoot, owner),
        settings.inbound.lockTimeout,
      );
    const ldif = path.join(scratch, stagedDirectory(settings));
    const kept = path.join(settings.backup.stateDir, "restored-directory.ldif");
    const hasLdif = await copyFile(ldif, kept).then(
      () => true,
      () => false,
    );
    return { snapshot: snap.short_id, mailboxes, paths, ...(hasLdif ? { directoryLdif: kept } : {}) };
  });
}

async function findSnapshot(repo: Repository, at: string): Promise<Snapshot> {
  const snapshots = await listSnapshots(repo);
  const snap = at === "latest" ? snapshots.at(-1) : snapshots.find((s) => s.id.startsWith(at));
  if (!snap)
    throw new SnapshotNotFoundError(
      at === "latest"
        ? "the repository holds no snapshot yet: run `semail backup`"
        : `no snapshot ${at}: see \`semail backup list\``,
    );
  return snap;
}

/** A scratch folder in backup.stateDir (beside the staging, away from the mail), removed afterwards. */
async function withScratch<T>(settings: Settings, work: (scratch: string) => Promise<T>): Promise<T> {
  await mkdir(settings.backup.stateDir, { recursive: true, mode: 0o700 });
  return withRunLock(settings.backup.stateDir, async () => {
    const scratch = await mkdtemp(path.join(settings.backup.stateDir, "restore-"));
    try {
      return await work(scratch);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}
