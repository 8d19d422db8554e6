// Runs the docker CLI against the provider's host, as upstream reaches it: DOCKER_HOST set
// to the host, so for ssh:// the CLI runs the system `ssh` (with `docker system dial-stdio`
// on the far side). The sshOpts reach that ssh through ssh-bin/ssh, a wrapper put first on
// the CLI's PATH that puts them in front of the CLI's own arguments.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { DockerTarget } from "./provider-config.ts";

const SSH_BIN = join(import.meta.dirname, "ssh-bin");
const DEFAULT_TIMEOUT_MS = 120_000;
/** How much of stderr an error keeps (a build's log can be long; its end says why). */
const STDERR_TAIL = 16_384;

export class DockerCliError extends Error {
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string, why: string) {
    super(`docker ${args.slice(0, 3).join(" ")}…: ${why}${stderr.trim() ? `: ${stderr.trim()}` : ""}`);
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

export type DockerRun = (args: readonly string[], options?: RunOptions) => Promise<string>;

/** The `ssh` on PATH other than the wrapper (the one the wrapper runs). */
function realSsh(path: string): string {
  for (const dir of path.split(delimiter)) {
    if (dir === "" || dir === SSH_BIN) continue;
    try {
      accessSync(join(dir, "ssh"), constants.X_OK);
      return join(dir, "ssh");
    } catch {
      // not here
    }
  }
  throw new Error("no ssh on PATH: an ssh:// Docker host needs the OpenSSH client (apt-get install openssh-client)");
}

/** The environment the docker CLI runs with for `target`. */
export function dockerEnv(target: DockerTarget, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, DOCKER_HOST: target.host };
  delete out.DOCKER_CONTEXT;
  if (target.host.startsWith("ssh://")) {
    const path = env.PATH ?? "/usr/bin:/bin";
    out.SEMAIL_RIG_REAL_SSH = realSsh(path);
    out.PATH = `${SSH_BIN}${delimiter}${path}`;
    out.SEMAIL_RIG_SSH_OPTS = String(target.sshOpts.length);
    target.sshOpts.forEach((opt, i) => {
      out[`SEMAIL_RIG_SSH_OPT_${i + 1}`] = opt;
    });
  }
  return out;
}

/** A runner of `docker ARGS` against `target`: resolves with stdout, rejects with stderr. */
export function dockerRunner(target: DockerTarget): DockerRun {
  const env = dockerEnv(target);
  return (args, options = {}) =>
    new Promise((resolve, reject) => {
      const child = spawn("docker", args, { env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
      const stdout: Buffer[] = [];
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString("utf8")).slice(-STDERR_TAIL);
      });
      const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new DockerCliError(args, stderr, err.message));
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(Buffer.concat(stdout).toString("utf8"));
        else
          reject(
            new DockerCliError(
              args,
              stderr,
              signal ? `killed by ${signal} (timeout ${timeoutMs} ms?)` : `exit ${code}`,
            ),
          );
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input ?? "");
    });
}

/**
 * True when the CLI failed because the object is not there (upstream's "gone"); not for a
 * far side that lacks docker ("docker: command not found"), which must not empty a state.
 */
export function isNoSuchObject(err: unknown): boolean {
  return (
    err instanceof DockerCliError &&
    /no such (container|network|object|image)\b|\b(container|network) \S+ not found/i.test(err.stderr)
  );
}
