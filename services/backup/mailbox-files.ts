// The files of a mailbox root (<mail-root>/<owner>/) as a backup sees them: the mbox files,
// whose locks a consistent copy holds (INBOX and every plain file below mail/), and the lock
// files themselves, which a copy leaves out (a restored lock would look held).
import { readdir } from "node:fs/promises";
import path from "node:path";
import { FOLDERS_DIRECTORY, INBOX_FILE } from "../../config/mailbox-layout.ts";

/** A dotlock, or one of the hidden files linked to make one (ours, the store's, liblockfile's). */
export function isLockFile(name: string): boolean {
  return name.endsWith(".lock") || /^\..*\.lock\./.test(name);
}

/** The mbox files below `root`, relative to it: INBOX and the folders (hidden files are Dovecot's or a locker's, not mail). */
export async function mboxFiles(root: string): Promise<string[]> {
  const found = [INBOX_FILE];
  const walk = async (relative: string, depth: number): Promise<void> => {
    if (depth > 16) return; // folders nest; a deeper tree is not ours
    let entries;
    try {
      entries = await readdir(path.join(root, relative), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith(".") || isLockFile(entry.name)) continue;
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) await walk(child, depth + 1);
      else if (entry.isFile()) found.push(child);
    }
  };
  await walk(FOLDERS_DIRECTORY, 0);
  return found;
}

/** Every lock file below `dir`, as paths. */
export async function lockFilesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => !e.isDirectory() && isLockFile(e.name)).map((e) => path.join(e.parentPath, e.name));
}
