// Start-up recovery after a crash (kill -9, power loss): undo the appends that crash
// markers say were in flight, remove the dotlocks we left, delete orphaned temp bodies.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { PENDING_DIR, parseMarker } from "./crash-markers.ts";

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

/** Whether `pid` names a live process other than us (a marker of ours from this pid is from an earlier life: pid 1 in a container). */
function otherLiveProcess(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Recovers `<tmpDir>` (the store's private directory under the mail root). Markers of
 * live stores (another process) are left alone; `ownInstance` excludes this store's own.
 */
export async function recoverStore(tmpDir: string, logger: Logger, ownInstance = ""): Promise<RecoveryReport> {
  const report: RecoveryReport = { truncated: [], locksRemoved: [], unresolved: [] };
  const pendingDir = path.join(tmpDir, PENDING_DIR);
  for (const name of await fs.readdir(pendingDir).catch(() => [] as string[])) {
    const [pid, instance] = name.split("-");
    if (instance === ownInstance) continue;
    const markerPath = path.join(pendingDir, name);
    const stat = await fs.stat(markerPath).catch(() => undefined);
    if (!stat) continue;
    if (otherLiveProcess(Number(pid)) && Date.now() - stat.mtimeMs < MARKER_MAX_AGE_MS) continue;
    const marker = parseMarker(await fs.readFile(markerPath, "utf8").catch(() => ""));
    if (marker) await recoverOne(marker, report, logger);
    else logger.warn({ marker: markerPath }, "ignoring an unreadable crash marker");
    await fs.unlink(markerPath).catch(() => {});
  }
  // Temp bodies of dead processes: a message that never got its 250.
  for (const name of await fs.readdir(tmpDir).catch(() => [] as string[])) {
    const match = /^msg-(\d+)-/.exec(name);
    if (match && !otherLiveProcess(Number(match[1])) && Number(match[1]) !== process.pid) {
      await fs.unlink(path.join(tmpDir, name)).catch(() => {});
    }
  }
  return report;
}

async function recoverOne(marker: NonNullable<ReturnType<typeof parseMarker>>, report: RecoveryReport, logger: Logger): Promise<void> {
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
}
