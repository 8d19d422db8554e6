// Which mailbox files this process has open: what the kept-open and release tests look at.
import { readdirSync, readlinkSync, realpathSync } from "node:fs";

/** The files this process has open under the mail root `dir` (/proc/self/fd), not the store's own .tmp. */
export function openUnder(dir: string): string[] {
  const real = realpathSync(dir);
  const open: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    let target = "";
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // Closed while we looked (the directory's own descriptor, among others).
    }
    if (target.startsWith(`${real}/`) && !target.startsWith(`${real}/.tmp/`)) open.push(target);
  }
  return open;
}
