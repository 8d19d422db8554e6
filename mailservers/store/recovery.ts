// Start-up recovery after a crash (kill -9, power loss): undo the appends that crash
// markers say were in flight, remove the dotlocks we left, delete orphaned temp bodies.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { PENDING_DIR, isLiveInstance, parseMarkers, type MarkerContent } from "./crash-markers.ts";
import { lockTempPrefix } from "./dotlock.ts";

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
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
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
    for (const marker of latestPerFile(parseMarkers(await fs.readFile(markerPath).catch(() => Buffer.alloc(0))))) {
      await recoverOne(marker, report, logger);
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

/**
 * One marker per file: the one with the greatest length. A process appends to a file one
 * batch at a time, so that is the batch in flight; an older slot still claimed (one whose
 * freeing failed) must not cut back what later batches stored and acknowledged.
 */
function latestPerFile(markers: MarkerContent[]): MarkerContent[] {
  const latest = new Map<string, MarkerContent>();
  for (const marker of markers) {
    const seen = latest.get(marker.file);
    if (!seen || (marker.length ?? -1) > (seen.length ?? -1)) latest.set(marker.file, marker);
  }
  return [...latest.values()];
}

async function recoverOne(marker: MarkerContent, report: RecoveryReport, logger: Logger): Promise<void> {
  const lockText = await fs.readFile(marker.lock, "utf8").catch(() => undefined);
  const ourLock = lockText === `${marker.pid}\n`;
  if (marker.length !== undefined) {
    const stat = await fs.lstat(marker.file).catch(() => undefined);
    if (stat?.isFile() && stat.size > marker.length) {
      if (ourLock) {
        const handle = await fs.open(marker.file, "r+");
        try {
          await handle.truncate(marker.length);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        report.truncated.push(marker.file);
        logger.warn({ file: marker.file, length: marker.length, removed: stat.size - marker.length }, "removed a partial append left by a crash");
      } else {
        // Our lock is gone: another program may have appended after our partial tail.
        report.unresolved.push(marker.file);
        logger.error({ file: marker.file, offset: marker.length }, "a crashed append may have left a partial message: its lock was taken over, not truncating");
      }
    }
  }
  if (ourLock) {
    await fs.unlink(marker.lock).catch(() => {});
    report.locksRemoved.push(marker.lock);
  }
  // The file a dead acquireDotlock was linking from, if it died before removing it.
  const prefix = lockTempPrefix(marker.lock, marker.pid);
  const directory = path.dirname(prefix);
  for (const name of await fs.readdir(directory).catch(() => [] as string[])) {
    if (path.join(directory, name).startsWith(prefix)) await fs.unlink(path.join(directory, name)).catch(() => {});
  }
}
