// The one root check: tests that need root (loop devices, mounts, Docker, other uids) skip
// with the same reason everywhere, so a skipped run reads as one thing to fix.
import { existsSync } from "node:fs";

/** Whether this process runs as root. */
export const isRoot = process.getuid?.() === 0;

/** A test's `skip` for what only root may do: false as root, else the reason. */
export const needsRoot: string | false = isRoot ? false : "needs root (CI runs as root)";

/** The `skip` for loop-mounted filesystems: root, and a kernel with loop devices. */
export const needsLoopDevices: string | false =
  needsRoot || (existsSync("/dev/loop-control") ? false : "needs loop devices (/dev/loop-control is missing)");
