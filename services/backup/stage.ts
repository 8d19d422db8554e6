// Staging, before restic runs: each mailbox root is copied (cp -a: owners, modes, times) while
// its mbox files' locks are held, one mailbox at a time, so a copy never holds a message half
// written and the store keeps serving every other mailbox meanwhile; then the directory is
// dumped with slapcat. A copy rather than restic reading the mail in place under the locks:
// restic's run over everything takes far longer than one mailbox's copy, and the locks would be
// held, and deliveries to that mailbox kept waiting, all that time.
import { execFile, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { provisioningState } from "../../config/mailbox-layout.ts";
import type { Settings } from "../../config/settings.ts";
import { lockFilesBelow, mboxFiles } from "./mailbox-files.ts";
import { withMailboxLocks } from "./mailbox-locks.ts";
import { stagedDirectory, stagedMailbox, stagingDir } from "./plan.ts";

const run = promisify(execFile);

/** Copies every ready mailbox root into the staging folder; returns the owners copied. */
export async function stageMailboxes(settings: Settings): Promise<string[]> {
  const mailRoot = settings.inbound.mailRoot;
  const owners = (await readdir(mailRoot, { withFileTypes: true }))
    .filter((e) => e.isDirectory() && provisioningState(path.join(mailRoot, e.name)) === "ready")
    .map((e) => e.name)
    .sort();
  await mkdir(path.join(stagingDir(settings), "mail"), { recursive: true, mode: 0o700 });
  for (const owner of owners) await stageMailbox(settings, owner);
  return owners;
}

export async function stageMailbox(settings: Settings, owner: string): Promise<void> {
  const root = path.join(settings.inbound.mailRoot, owner);
  const copy = stagedMailbox(settings, owner);
  await rm(copy, { recursive: true, force: true });
  const files = (await mboxFiles(root)).map((f) => path.join(root, f));
  await withMailboxLocks(files, settings.inbound.lockTimeout, () => run("cp", ["-a", "--", root, copy]));
  for (const lock of await lockFilesBelow(copy)) await rm(lock, { force: true });
}

/** Writes the directory's LDIF (backup.slapcat's stdout) into the staging folder; false when no dump is configured. */
export async function dumpDirectory(settings: Settings): Promise<boolean> {
  const [command, ...args] = settings.backup.slapcat;
  if (command === undefined) return false;
  const file = stagedDirectory(settings);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(file, { mode: 0o600 });
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stdout.pipe(out);
    child.stderr.on("data", (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)));
    child.on("error", (error) => reject(new Error(`backup.slapcat: cannot run ${command}: ${error.message}`)));
    child.on("close", (code) => {
      out.end(() =>
        code === 0 ? resolve() : reject(new Error(`backup.slapcat: ${command} exited ${code}: ${err.trim()}`)),
      );
    });
  });
  return true;
}
