// Whether another uid can walk down to a path: Dovecot's sessions (each mailbox's uid) and
// PHP (www-data) must pass through every directory above what they read.
import { stat } from "node:fs/promises";
import { resolve, sep } from "node:path";

/**
 * The first directory on the way to `path` that other users cannot pass through (no
 * execute bit for others), if any. Directories that do not exist yet are not counted.
 */
export async function closedAncestor(path: string): Promise<string | undefined> {
  const parts = resolve(path).split(sep).filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const dir = `${sep}${parts.slice(0, i).join(sep)}`;
    const info = await stat(dir).catch(() => undefined);
    if (info !== undefined && (info.mode & 0o001) === 0) return dir;
  }
  return undefined;
}
