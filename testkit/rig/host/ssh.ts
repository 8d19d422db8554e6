// SSH to the rig as the program does: root, a key pair of the test's own, the host key
// checked against a known_hosts file that holds only the rig's key.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface KeyPair {
  readonly privateKeyPath: string;
  /** The OpenSSH private key text. */
  readonly privateKey: string;
  /** The authorized_keys line. */
  readonly publicKey: string;
}

/** A new ed25519 key pair in `dir` (no passphrase). */
export async function makeKeyPair(dir: string): Promise<KeyPair> {
  const privateKeyPath = join(dir, "id_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "semail-test-rig", "-f", privateKeyPath], {
    timeout: 30_000,
  });
  return {
    privateKeyPath,
    privateKey: await readFile(privateKeyPath, "utf8"),
    publicKey: (await readFile(`${privateKeyPath}.pub`, "utf8")).trim(),
  };
}

/** Writes a known_hosts naming `address` with `hostKey` only; returns its path. */
export async function writeKnownHosts(dir: string, address: string, hostKey: string): Promise<string> {
  const path = join(dir, "known_hosts");
  await writeFile(path, `${address} ${hostKey}\n`);
  return path;
}

/** ssh options: this key only, this known_hosts only, never a prompt, a bounded connect. */
export function sshOptions(privateKeyPath: string, knownHostsPath: string): string[] {
  return [
    "-i",
    privateKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsPath}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-F",
    "/dev/null",
  ];
}

/** Runs `command` through root's shell on `address`; rejects with ssh's or the command's stderr. */
export async function sshExec(
  options: readonly string[],
  address: string,
  command: string,
  { input, timeoutMs = 120_000 }: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<string> {
  const child = run("ssh", [...options, `root@${address}`, command], { timeout: timeoutMs, maxBuffer: 64 << 20 });
  child.child.stdin!.end(input ?? "");
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `ssh root@${address} ${JSON.stringify(command.slice(0, 80))}: ${(e.stderr ?? "").trim() || e.message}`,
      { cause: err },
    );
  }
}
