// Start-up recovery after a crash (kill -9, power loss): undo the appends that crash
// markers say were in flight, remove the dotlocks we left (known by identity, see
// crash-markers.ts), delete orphaned temp bodies.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { processAlive } from "../core/process-alive.ts";
import { PENDING_DIR, isLiveInstance, parseMarkers, type MarkerContent } from "./crash-markers.ts";
import { lockIdentity, lockTempPrefix, type LockIdentity } from "./dotlock.ts";

/** A marker older than this belongs to a dead batch even if its pid was reused (batches last seconds). */
const MARKER_MAX_AGE_MS = 10 * 60 * 1000;

export interface RecoveryReport {
  /** Files cut back to their length before an interrupted append. */
  readonly truncated: string[];
  /** Our dotlocks left by the crash, removed. */
  readonly locksRemoved: string[];
  /** Files where a partial tail may remain: someone else took the lock first (logged). */
  readonly unresolved: string[];
}

/**
 * Whether files named with `pid` and `instance` may belong to a live store. Our own pid
 * counts as dead unless the instance is alive in this process: an earlier life of the
 * daemon can have had our pid (pid 1 in a container).
 */
function mayBeLive(pid: number, instance: string): boolean {
  if (pid === process.pid) return isLiveInstance(instance);
  return processAlive(pid);
}

/**
 * Recovers `<tmpDir>` (the store's private directory under the mail root). Markers of
 * live stores (another process, or another store in this one) are left alone.
 */
export async function recoverStore(tmpDir: string, logger: Logger): Promise<RecoveryReport> {
  const report: RecoveryReport = { truncated: [], locksRemoved: [], unresolved: [] };
  const pendingDir = path.join(tmpDir, PENDING_DIR);
  for (const name of await fs.readdir(pendingDir).catch(() => [] as string[])) {
    const [pid, instance] = name.split("-");
    const markerPath = path.join(pendingDir, name);
    const stat = await fs.stat(markerPath).catch(() => undefined);
    if (!stat) continue;
    const live = mayBeLive(Number(pid), instance ?? "");
    if (live && (Number(pid) === process.pid || Date.now() - stat.mtimeMs < MARKER_MAX_AGE_MS)) continue;
    const markers = parseMarkers(await fs.readFile(markerPath).catch(() => Buffer.alloc(0)));
    for (const file of new Set(markers.map((m) => m.file))) {
      await recoverFile(markers.filter((m) => m.file === file), report, logger);
    }
    await fs.unlink(markerPath).catch(() => {});
  }
  // Temp bodies of dead processes: a message that never got its 250.
  for (const name of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    const match = /^msg-(\d+)-([0-9a-f]+)-/.exec(name);
    if (match && !mayBeLive(Number(match[1]), match[2]!)) {
      await fs.unlink(path.join(tmpDir, name)).catch(() => {});
    }
  }
  return report;
}

/** Whether the lock is the very file `marker`'s batch linked there (same inode and mtime, its pid inside). */
function holds(marker: MarkerContent, lock: { identity: LockIdentity; text: string } | undefined): boolean {
  const ours = marker.lockIdentity;
  return ours !== undefined && lock !== undefined && lock.identity.inode === ours.inode && lock.identity.mtime === ours.mtime && lock.text === `${marker.pid}\n`;
}

/**
 * The claimed slots of one dead instance for one mbox file: usually one, the batch in
 * flight; older ones only where freeing failed (their file is final or was left locked).
 * The lock is removed if one of them holds it, and only then: a lock another program
 * took meanwhile, even one naming the same pid (another pid namespace), is not ours.
 * A partial tail is cut back only under the lock of the batch that wrote it; any other
 * unfinished batch's tail is reported, never cut (someone may have appended after it).
 */
async function recoverFile(markers: readonly MarkerContent[], report: RecoveryReport, logger: Logger): Promise<void> {
  const { file, lock: lockPath } = markers[0]!;
  const lockStat = await fs.lstat(lockPath, { bigint: true }).catch(() => undefined);
  const lockText = lockStat?.isFile() ? await fs.readFile(lockPath, "utf8").catch(() => undefined) : undefined;
  const lock = lockStat && lockText !== undefined ? { identity: lockIdentity(lockStat), text: lockText } : undefined;
  const holder = markers.find((marker) => holds(marker, lock));

  const unfinished = markers.filter((m) => !m.done && m.length !== undefined);
  if (unfinished.length > 0) {
    let stat = await fs.lstat(file).catch(() => undefined);
    if (holder && !holder.done && holder.length !== undefined && stat?.isFile() && stat.size > holder.length) {
      const handle = await fs.open(file, "r+");
      try {
        await handle.truncate(holder.length);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      report.truncated.push(file);
      logger.warn({ file, length: holder.length, removed: stat.size - holder.length }, "removed a partial append left by a crash");
      stat = await fs.lstat(file).catch(() => undefined);
    }
    const orphan = unfinished.find((m) => m !== holder && stat?.isFile() && stat.size > m.length!);
    if (orphan) {
      // Its lock is gone: another program may have appended after our partial tail.
      report.unresolved.push(file);
      logger.error({ file, offset: orphan.length }, "a crashed append may have left a partial message: its lock was taken over, not truncating");
    }
  }
  if (holder) {
    await fs.unlink(lockPath).catch(() => {});
    report.locksRemoved.push(lockPath);
  }
  // Files a dead acquireDotlock was linking from, or had renamed a stale lock to.
  for (const pid of new Set(markers.map((m) => m.pid))) {
    const prefix = lockTempPrefix(lockPath, pid);
    const directory = path.dirname(prefix);
    for (const name of await fs.readdir(directory).catch(() => [] as string[])) {
      if (path.join(directory, name).startsWith(prefix)) await fs.unlink(path.join(directory, name)).catch(() => {});
    }
  }
}
