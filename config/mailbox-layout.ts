// What a mailbox root, <mail-root>/<owner>/, holds and how a reader tells it is ready:
// INBOX, the folders in mail/, and a marker that provisioning writes. The store, the
// local applier, Dovecot's runner and the benchmarks all read this one layout;
// assets/host/mailbox-fs.sh makes the same on the VM.
import { promises as fs, lstatSync } from "node:fs";
import path from "node:path";

/** The owner's INBOX mbox file, in the mailbox root. */
export const INBOX_FILE = "INBOX";
/** The directory of folder mbox files, one per (recipient, sender), in the mailbox root. */
export const FOLDERS_DIRECTORY = "mail";
/** Written into a mailbox root by provisioning; it survives a reader deleting an empty INBOX. */
export const PROVISIONED_MARKER = ".semail-mailbox";

/**
 * Provisions a mailbox root as a plain directory, the way mailbox-fs.sh populates a
 * mounted filesystem: INBOX, mail/ and the marker. For local mode without root, the
 * daemon's own postmaster mailbox and the benchmarks; never for a listed owner on the VM.
 */
export async function provisionPlainRoot(mailRoot: string, owner: string): Promise<void> {
  const root = path.join(mailRoot, owner);
  await fs.mkdir(path.join(root, FOLDERS_DIRECTORY), { recursive: true, mode: 0o700 });
  for (const file of [INBOX_FILE, PROVISIONED_MARKER])
    await fs.writeFile(path.join(root, file), "", { flag: "a", mode: 0o600 });
}

/**
 * Provisioning makes the root and puts an INBOX and PROVISIONED_MARKER in it. A root with
 * neither is not ready: not made yet, or the empty mount point of a filesystem that is not
 * mounted, where mail would land on the host's own disk. Synchronous: the store checks it
 * for every message (see mailservers/inbound/store/append/append-handle.ts).
 */
export function provisioningState(root: string): "missing" | "unsafe" | "ready" {
  const rootStat = lstatSync(root, { throwIfNoEntry: false });
  if (!rootStat) return "missing";
  if (!rootStat.isDirectory()) return "unsafe";
  for (const name of [PROVISIONED_MARKER, INBOX_FILE])
    if (lstatSync(path.join(root, name), { throwIfNoEntry: false })) return "ready";
  return "missing";
}
