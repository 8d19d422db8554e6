// Recovery after a crash (kill -9, power loss): undo the appends that dead writers' crash
// markers say were in flight, remove the dotlocks they left (known by identity, see
// crash-markers.ts), delete their orphaned temp bodies. Run at start, and again before a
// running store breaks a stale lock (dotlock.ts `beforeBreak`), so a partial tail is
// always cut before anything is appended after it.
//
// Synchronous, so that two recoveries in one process never interleave (the cut and the
// removal of a dead lock must not be repeated after someone else has taken the lock and
// appended). Across processes it relies on one daemon per mail root, as the start does.
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { PENDING_DIR, parseMarkers, type MarkerContent } from "./crash-markers.ts";
import { lockIdentity, lockTempPrefix, type LockIdentity } from "./dotlock.ts";
import { lockTag, parseWriter, writerAlive, type Writer } from "./writer-identity.ts";

export interface RecoveryReport {
  /** Files cut back to their length before an interrupted append. */
  readonly truncated: string[];
  /** Our dotlocks left by the crash, removed. */
  readonly locksRemoved: string[];
  /** Files where a partial tail may remain: someone else took the lock first (logged). */
  readonly unresolved: string[];
}

function names(directory: string): string[] {
  try {
    return fs.readdirSync(directory);
  } catch {
    return [];
  }
}

/**
 * Recovers `<tmpDir>` (the store's private directory under the mail root) from every
 * writer that is dead for certain (writer-identity.ts). Live writers' files, another process's or
 * another store's in this one, are left alone.
 */
export function recoverStore(tmpDir: string, logger: Logger): RecoveryReport {
  const report: RecoveryReport = { truncated: [], locksRemoved: [], unresolved: [] };
  const alive = new Map<string, boolean>();
  const dead = (name: string): Writer | undefined => {
    const writer = parseWriter(name);
    if (!writer) return undefined;
    if (!alive.has(name)) alive.set(name, writerAlive(writer));
    return alive.get(name) ? undefined : writer;
  };
  const pendingDir = path.join(tmpDir, PENDING_DIR);
  for (const name of names(pendingDir)) {
    const writer = dead(name);
    if (!writer) continue;
    const markerPath = path.join(pendingDir, name);
    let markers: MarkerContent[];
    try {
      markers = parseMarkers(fs.readFileSync(markerPath));
    } catch {
      continue;
    }
    for (const file of new Set(markers.map((m) => m.file))) {
      recoverFile(
        markers.filter((m) => m.file === file),
        writer,
        report,
        logger,
      );
    }
    ignoreErrors(() => fs.unlinkSync(markerPath));
  }
  // Temp bodies of dead writers: a message that never got its 250.
  for (const name of names(tmpDir)) {
    const match = /^msg-(.+)-\d+$/.exec(name);
    if (match && dead(match[1]!)) ignoreErrors(() => fs.unlinkSync(path.join(tmpDir, name)));
  }
  return report;
}

function ignoreErrors(call: () => unknown): void {
  try {
    call();
  } catch {
    // Gone already, or left for the next recovery.
  }
}

interface FoundLock {
  readonly identity: LockIdentity;
  /** Names of its inode (st_nlink). */
  readonly links: number;
  readonly text: string;
}

/**
 * Whether the lock is the very file `marker`'s batch linked there: the temp file it made
 * (same inode and mtime, its pid inside), or the mailbox's provisioning marker (dotlock.ts
 * `linkSource`: same inode, still linked as the marker, empty like it). The marker's
 * inode cannot be another file's while the marker holds it.
 */
function holds(marker: MarkerContent, lock: FoundLock | undefined): boolean {
  const ours = marker.lockIdentity;
  if (ours === undefined || lock === undefined || lock.identity.inode !== ours.inode) return false;
  if (lock.identity.mtime === ours.mtime && lock.text === `${marker.pid}\n`) return true;
  return lock.links >= 2 && lock.text === "";
}

/** The lock at `lockPath` with its identity, links and text, if it is a regular file. */
function readLock(lockPath: string): FoundLock | undefined {
  try {
    const stat = fs.lstatSync(lockPath, { bigint: true });
    return stat.isFile()
      ? { identity: lockIdentity(stat), links: Number(stat.nlink), text: fs.readFileSync(lockPath, "utf8") }
      : undefined;
  } catch {
    return undefined;
  }
}

function sizeOf(file: string): number | undefined {
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  return stat?.isFile() ? stat.size : undefined;
}

/**
 * The claimed slots of one dead writer for one mbox file: usually one, the batch in
 * flight; older ones only where freeing failed (their file is final or was left locked).
 * The lock is removed if one of them holds it, and only then: a lock another program
 * took meanwhile, even one naming the same pid (another pid namespace), is not ours.
 * A partial tail is cut back only under the lock of the batch that wrote it, before that
 * lock goes; any other unfinished batch's tail is reported, never cut (someone may have
 * appended after it).
 */
function recoverFile(markers: readonly MarkerContent[], writer: Writer, report: RecoveryReport, logger: Logger): void {
  const { file, lock: lockPath } = markers[0]!;
  const lock = readLock(lockPath);
  // Slots linked from one marker share its inode: the holder is the latest of them (an
  // older one is a batch left unfinished minutes before, whose lock was broken since).
  const holder = markers
    .filter((marker) => holds(marker, lock))
    .sort((a, b) =>
      a.lockIdentity!.mtime < b.lockIdentity!.mtime ? 1 : a.lockIdentity!.mtime > b.lockIdentity!.mtime ? -1 : 0,
    )[0];

  const unfinished = markers.filter((m) => !m.done && m.length !== undefined);
  if (unfinished.length > 0) {
    let size = sizeOf(file);
    if (holder && !holder.done && holder.length !== undefined && size !== undefined && size > holder.length) {
      const fd = fs.openSync(file, "r+");
      try {
        fs.ftruncateSync(fd, holder.length);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      report.truncated.push(file);
      logger.warn(
        { file, length: holder.length, removed: size - holder.length },
        "removed a partial append left by a crash",
      );
      size = sizeOf(file);
    }
    const orphan = unfinished.find((m) => m !== holder && size !== undefined && size > m.length!);
    if (orphan) {
      // Its lock is gone: another program may have appended after our partial tail.
      report.unresolved.push(file);
      logger.error(
        { file, offset: orphan.length },
        "a crashed append may have left a partial message: its lock was taken over, not truncating",
      );
    }
  }
  if (holder) {
    ignoreErrors(() => fs.unlinkSync(lockPath));
    report.locksRemoved.push(lockPath);
  }
  // Files a dead acquireDotlock was linking from, or had renamed a stale lock to.
  const prefix = lockTempPrefix(lockPath, lockTag(writer));
  const directory = path.dirname(prefix);
  for (const name of names(directory)) {
    if (path.join(directory, name).startsWith(prefix)) ignoreErrors(() => fs.unlinkSync(path.join(directory, name)));
  }
}
