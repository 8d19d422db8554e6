// Where local mode keeps what other uids must reach (the mailbox mounts, Dovecot's and
// Roundcube's state): in the data dir when every directory above it lets others through,
// else in a directory of SEMail's own under /var/lib, so a clone in /root (mode 0700)
// starts without asking its owner to open their home.
import { createHash } from "node:crypto";
import { chmod, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { closedAncestor } from "../../lib/closed-ancestor.ts";

/** The parent of every data dir's reachable directory when the data dir itself is closed. */
export const REACHABLE_ROOT = "/var/lib/semail/local";

/** The reachable directory for `dataDir`: itself, or one named after its path under `root`. */
export async function reachableDir(dataDir: string, root = REACHABLE_ROOT): Promise<string> {
  const absolute = resolve(dataDir);
  if ((await closedAncestor(join(absolute, "x"))) === undefined) return absolute;
  const id = createHash("sha256").update(absolute).digest("hex").slice(0, 16);
  return join(root, id);
}

/**
 * Makes `dir` (SEMail's own) and the directories above it that are missing, each passable
 * by others (0711); `dir` is opened so even when it was there, e.g. made by mkdtemp.
 */
export async function makeReachable(dir: string): Promise<void> {
  const absolute = resolve(dir);
  const made = (await mkdir(absolute, { recursive: true, mode: 0o711 })) ?? absolute;
  // mkdir's mode passes through the umask; a umask of 077 would close them again.
  for (let d = absolute; d.length >= made.length; d = resolve(d, "..")) await chmod(d, 0o711);
}
