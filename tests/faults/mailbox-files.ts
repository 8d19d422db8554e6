// A mailbox's mbox files and their bytes, to show a failed append left them exactly as they were.
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";

/** INBOX and every folder under mail/ of a mailbox root, by relative path (fillers and lost+found left out). */
export async function mailboxFiles(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const folders = await readdir(path.join(root, "mail")).catch(() => []);
  for (const name of ["INBOX", ...folders.map((f) => path.join("mail", f))])
    files.set(name, await readFile(path.join(root, name)));
  return files;
}
