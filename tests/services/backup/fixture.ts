// What the backup tests share: a restic repository and its password file in a temp dir, the
// backup settings pointing at them, mail sent through the real inbound daemon, and a sender
// that keeps delivering until told to stop (bounded), recording which messages got a 250.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { sendMessage, simpleMessage } from "../../helpers/smtp.ts";

/** The repository, its password (a file, mode 0600) and the state dir, under `dir`. */
export async function backupSection(
  dir: string,
): Promise<{ repository: string; passwordFile: string; stateDir: string; slapcat: string[] }> {
  await mkdir(dir, { recursive: true });
  const passwordFile = path.join(dir, "restic-password");
  await writeFile(passwordFile, "correct horse battery staple\n", { mode: 0o600 });
  return {
    repository: path.join(dir, "repo"),
    passwordFile,
    stateDir: path.join(dir, "backup-state"),
    slapcat: [],
  };
}

/** Sends one message to `to` with `subject`; true on a 250. */
export async function deliver(port: number, to: string, subject: string): Promise<boolean> {
  const data = simpleMessage({ from: "sender@example.org", to, subject, body: `Body of ${subject}.` });
  return (await sendMessage(port, { from: "sender@example.org", to: [to], data })).code === 250;
}

/** Delivers `${prefix}-N` to `to` in a loop until `stop()` is called (at most `most` messages); resolves with the subjects that got a 250. */
export function keepDelivering(
  port: number,
  to: string,
  prefix: string,
  most = 400,
): { stop(): void; done: Promise<string[]> } {
  let stopped = false;
  const done = (async () => {
    const accepted: string[] = [];
    for (let i = 0; i < most && !stopped; i++) {
      const subject = `${prefix}-${i}`;
      if (await deliver(port, to, subject)) accepted.push(subject);
    }
    return accepted;
  })();
  return { stop: () => (stopped = true), done };
}

/** Every file below `root` (relative path → bytes), lock files aside. */
export async function filesBelow(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name.endsWith(".lock")) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(root, full), await readFile(full));
  }
  return files;
}
