// Runs one command on a host over the system's OpenSSH, with a key and host key given as
// text (as Pulumi hands them over) rather than from the user's ~/.ssh: they are written to a
// private temp folder for the one call and removed after it.
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SshTarget {
  readonly host: string;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
  /** The private key's text (OpenSSH or PEM); the agent's keys when absent. */
  readonly privateKey?: string | undefined;
  /** "ssh-ed25519 AAAA..."; when absent the host's key is not checked (as Pulumi's command provider). */
  readonly hostKey?: string | undefined;
  /** One jump host, reached the same way. */
  readonly proxy?: SshTarget | undefined;
}

export interface SshResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class SshError extends Error {
  readonly code: number | null;
  readonly stderr: string;
  constructor(message: string, code: number | null, stderr: string) {
    super(message);
    this.name = "SshError";
    this.code = code;
    this.stderr = stderr;
  }
}

/** known_hosts' name for a host: `[host]:port` off port 22. */
function knownName(target: SshTarget): string {
  return target.port !== undefined && target.port !== 22 ? `[${target.host}]:${target.port}` : target.host;
}

/** The ssh options for `target`, writing its key and known host into `dir` under `tag`. */
async function optionsFor(target: SshTarget, dir: string, tag: string): Promise<string[]> {
  const options = [
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=15",
    "-o",
    "LogLevel=ERROR",
    "-o",
    `IdentitiesOnly=${target.privateKey ? "yes" : "no"}`,
  ];
  if (target.privateKey) {
    const key = join(dir, `${tag}.key`);
    await writeFile(key, target.privateKey.endsWith("\n") ? target.privateKey : `${target.privateKey}\n`, {
      mode: 0o600,
    });
    options.push("-i", key);
  }
  if (target.hostKey) {
    const known = join(dir, `${tag}.known_hosts`);
    await writeFile(known, `${knownName(target)} ${target.hostKey.trim()}\n`);
    options.push(
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${known}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
    );
  } else {
    options.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
  }
  if (target.port !== undefined) options.push("-p", String(target.port));
  if (target.proxy) {
    const jump = target.proxy;
    const inner = [
      "ssh",
      ...(await optionsFor(jump, dir, `${tag}-proxy`)),
      "-W",
      "%h:%p",
      `${jump.user ?? "root"}@${jump.host}`,
    ];
    options.push(
      "-o",
      `ProxyCommand=${inner.map((a) => (/^[\w@%:./=-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ")}`,
    );
  }
  return options;
}

/** Runs `command` (a shell line on the far side) with `stdin`; rejects on a non-zero exit with its stderr. */
export async function sshExec(target: SshTarget, command: string, stdin = "", timeoutMs = 120_000): Promise<SshResult> {
  const dir = await mkdtemp(join(tmpdir(), "semail-ssh-"));
  try {
    await chmod(dir, 0o700);
    const args = [...(await optionsFor(target, dir, "host")), `${target.user ?? "root"}@${target.host}`, "--", command];
    return await new Promise<SshResult>((resolve, reject) => {
      const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"], timeout: timeoutMs });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("error", (err) => reject(new SshError(`ssh ${target.host}: ${err.message}`, null, stderr)));
      child.on("close", (code, signal) => {
        if (code === 0) resolve({ stdout, stderr });
        else
          reject(
            new SshError(
              `ssh ${target.host}: ${signal ? `killed by ${signal}` : `exit ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ""}`,
              code,
              stderr,
            ),
          );
      });
      child.stdin.on("error", () => undefined).end(stdin);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
