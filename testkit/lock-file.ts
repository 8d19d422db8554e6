// Lock files between test processes: created exclusively, holding the holder's pid, so a
// lock whose holder died can be told apart and taken over.
import { closeSync, openSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** Creates `path` holding our pid; false when it exists (someone holds it). */
export function tryLockFile(path: string): boolean {
  try {
    const fd = openSync(path, "wx");
    writeFileSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** The pid in a lock file, or undefined (none, or its holder is between creating and writing it). */
export async function lockHolder(path: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
