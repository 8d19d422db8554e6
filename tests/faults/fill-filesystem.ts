// Filling a mailbox's filesystem behind the daemon's back, as another program writing there
// would: a filler file that leaves a chosen number of bytes free, fsynced so the blocks are
// really taken (ext4 counts delayed allocations in statfs too, but fsync settles them).
import { constants, statfsSync } from "node:fs";
import { open } from "node:fs/promises";

const CHUNK = 1 << 20;

/** Free bytes an unprivileged writer has on the filesystem of `dir` (statfs f_bavail). */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/**
 * Writes `file` until its filesystem has at most `leave` bytes free (0: until ENOSPC).
 * Returns the free bytes left. Bounded by the free space at the start.
 */
export async function fillFilesystem(file: string, leave: number): Promise<number> {
  const dir = file.slice(0, file.lastIndexOf("/"));
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
  try {
    const zeros = Buffer.alloc(CHUNK);
    const blockSize = statfsSync(dir).bsize;
    // Each step takes at least a block: bounded by the blocks free at the start.
    const most = Math.ceil(freeBytes(dir) / blockSize) + 1;
    for (let step = 0, left = freeBytes(dir) - leave; left > 0 && step < most; step++, left = freeBytes(dir) - leave) {
      // Halving towards the target, the last steps a block at a time, so little more than `leave` is taken.
      const size = Math.min(CHUNK, Math.max(blockSize, Math.floor(left / 2 / blockSize) * blockSize));
      try {
        await handle.write(zeros, 0, size);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw error;
      }
      await handle.datasync();
    }
  } finally {
    await handle.close();
  }
  return freeBytes(dir);
}
