// Writes that survive a crash or a power loss: the users list, local mode's secrets, the
// queue's control requests, and every new entry the spool and the mbox store make.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** fsync a directory, so a new or renamed entry in it survives a power loss. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `text` so that a reader sees the old or the new file, never half of one.
 * `owner`: the new file's uid and gid from its first moment (a reader that is not root keeps reading it).
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  mode = 0o640,
  owner?: { readonly uid: number; readonly gid: number },
): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const file = await open(temp, "wx", mode);
  try {
    if (owner) {
      await file.chown(owner.uid, owner.gid);
      // open's mode passed through the umask: a file kept as it was gets exactly its old one.
      await file.chmod(mode);
    }
    await file.writeFile(text);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(temp, { force: true });
    throw err;
  }
  await file.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename lives in the directory: sync it too.
  await syncDirectory(dirname(path));
}
