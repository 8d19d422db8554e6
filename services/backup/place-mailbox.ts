// Puts a mailbox's saved copy back into its live root under the mbox files' locks, so that a
// delivery during the restore waits and then appends after the restored content. Nothing live
// is ever dropped: each mbox file is kept when it already starts with the saved bytes (nothing
// was lost from it), takes the saved bytes when it is empty or missing, and otherwise becomes
// the saved bytes followed by what it holds now (mail that arrived since the loss). Each file
// is replaced by rename, so a reader sees the old file or the new one, never half of one.
import { constants, existsSync } from "node:fs";
import { chmod, chown, copyFile, lstat, mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { syncDirectory } from "../../lib/durable-file.ts";
import { isLockFile, mboxFiles } from "./mailbox-files.ts";
import { withMailboxLocks } from "./mailbox-locks.ts";

/** What happened to each mbox file, by path relative to the root. */
export type Placed = Record<string, "kept" | "restored" | "merged">;

const CHUNK = 1 << 20;

export async function placeMailbox(saved: string, root: string, lockTimeoutMs: number): Promise<Placed> {
  await makeDirectories(saved, root);
  // INBOX is listed even when absent; a saved root always has one, but a hand-made one may not.
  const files = (await mboxFiles(saved)).filter((f) => f !== "INBOX" || existsSync(path.join(saved, f)));
  const placed: Placed = {};
  await withMailboxLocks(
    files.map((f) => path.join(root, f)),
    lockTimeoutMs,
    async () => {
      for (const file of files) placed[file] = await placeMbox(path.join(saved, file), path.join(root, file));
      // Last, the marker and the rest (Dovecot's subscriptions): the root reads as ready only now.
      await copyMissingOthers(saved, root, new Set(files));
    },
  );
  return placed;
}

/** Each folder of the saved tree, made in the live root if missing, with the saved owner and mode. */
async function makeDirectories(saved: string, root: string): Promise<void> {
  const dirs = [
    "",
    ...(await readdir(saved, { withFileTypes: true, recursive: true }))
      .filter((e) => e.isDirectory())
      .map((e) => path.relative(saved, path.join(e.parentPath, e.name))),
  ];
  for (const dir of dirs.sort()) {
    const target = path.join(root, dir);
    if (
      await lstat(target).then(
        () => true,
        () => false,
      )
    )
      continue;
    // The mail root itself may be gone too (the whole local data lost): made as a plain folder.
    await mkdir(target, { mode: 0o700, recursive: dir === "" });
    await sameOwnerAndMode(path.join(saved, dir), target);
  }
}

async function copyMissingOthers(saved: string, root: string, mbox: ReadonlySet<string>): Promise<void> {
  const entries = await readdir(saved, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    const relative = path.relative(saved, path.join(entry.parentPath, entry.name));
    if (!entry.isFile() || mbox.has(relative) || isLockFile(entry.name)) continue;
    const target = path.join(root, relative);
    if (
      await lstat(target).then(
        () => true,
        () => false,
      )
    )
      continue;
    await copyFile(path.join(saved, relative), target, constants.COPYFILE_EXCL);
    await sameOwnerAndMode(path.join(saved, relative), target);
  }
}

async function placeMbox(saved: string, live: string): Promise<"kept" | "restored" | "merged"> {
  const savedSize = (await lstat(saved)).size;
  const liveStat = await lstat(live).catch(() => undefined);
  if (liveStat && liveStat.size >= savedSize && (await startsWith(live, saved, savedSize))) return "kept";
  const temp = path.join(path.dirname(live), `.${path.basename(live)}.semail-restore.${process.pid}`);
  const out = await open(temp, "wx", 0o600);
  try {
    await appendFile(out, saved);
    const merged = liveStat !== undefined && liveStat.size > 0;
    if (merged) {
      await out.write(await separatorAfter(saved, savedSize));
      await appendFile(out, live);
    }
    await out.sync();
    await out.close();
    await sameOwnerAndMode(saved, temp);
    await rename(temp, live);
    await syncDirectory(path.dirname(live));
    return merged ? "merged" : "restored";
  } catch (error) {
    await out.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}

/** Whether the first `size` bytes of `file` are those of `prefix`. */
async function startsWith(file: string, prefix: string, size: number): Promise<boolean> {
  const [a, b] = await Promise.all([open(file, "r"), open(prefix, "r")]);
  try {
    const bufA = Buffer.alloc(CHUNK);
    const bufB = Buffer.alloc(CHUNK);
    for (let at = 0; at < size; ) {
      const want = Math.min(CHUNK, size - at);
      const [ra, rb] = await Promise.all([a.read(bufA, 0, want, at), b.read(bufB, 0, want, at)]);
      if (ra.bytesRead !== want || rb.bytesRead !== want) return false;
      if (!bufA.subarray(0, want).equals(bufB.subarray(0, want))) return false;
      at += want;
    }
    return true;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function appendFile(out: FileHandle, file: string): Promise<void> {
  const source = await open(file, "r");
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) return;
      await out.write(buffer, 0, bytesRead);
    }
  } finally {
    await source.close();
  }
}

/** What makes the next From_ line start a message after `file` (the store's own rule, batch-writer.ts). */
async function separatorAfter(file: string, size: number): Promise<Buffer> {
  if (size === 0) return Buffer.alloc(0);
  const handle = await open(file, "r");
  try {
    const tail = Buffer.alloc(2);
    const { bytesRead } = await handle.read(tail, 0, Math.min(2, size), size - Math.min(2, size));
    const last = tail.subarray(0, bytesRead);
    if (last.length === 2 && last[0] === 0x0a && last[1] === 0x0a) return Buffer.alloc(0);
    if (last.length === 1 && last[0] === 0x0a) return Buffer.alloc(0);
    return Buffer.from(last.at(-1) === 0x0a ? "\n" : "\n\n");
  } finally {
    await handle.close();
  }
}

/** Gives `target` the owner (when we are root) and mode of `source`. */
async function sameOwnerAndMode(source: string, target: string): Promise<void> {
  const stat = await lstat(source);
  if (process.geteuid?.() === 0) await chown(target, stat.uid, stat.gid);
  await chmod(target, stat.mode & 0o7777);
}
