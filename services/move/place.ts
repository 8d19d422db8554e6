// Where a move reads or writes: a path on this machine, or one on another host reached by the
// system's OpenSSH as `hosts.<name>.ssh` says ("user@host[:port]"), with the operator's own keys
// and known hosts (BatchMode: never a prompt). A shell script runs the same way in both places,
// so the source and the target are checked, hashed and emptied by one piece of text.
import { spawn } from "node:child_process";
import { shellLine, shellQuote } from "../../lib/shell.ts";

export interface SshLogin {
  readonly user: string;
  readonly host: string;
  readonly port?: number;
}

/** A host as a move reaches it: its name, and how (no ssh: here). */
export interface Place {
  /** The host's name (settings hostName, or a key of settings hosts). */
  readonly host: string;
  readonly ssh?: SshLogin;
  /** The ssh command and its options before ours (tests add a key and a known_hosts file). */
  readonly sshCommand: readonly string[];
}

export class PlaceError extends Error {
  override readonly name = "PlaceError";
}

/** "user@host" or "user@host:port" (the settings' shape, already checked). */
export function parseSshLogin(login: string): SshLogin {
  const match = /^([^@]+)@([^:]+)(?::(\d+))?$/.exec(login);
  if (!match) throw new PlaceError(`${JSON.stringify(login)} is not user@host[:port]`);
  const port = match[3] === undefined ? undefined : Number(match[3]);
  return { user: match[1]!, host: match[2]!, ...(port === undefined ? {} : { port }) };
}

/** ssh's arguments up to the destination: the command, BatchMode, the port. */
export function sshArguments(place: Place): string[] {
  if (!place.ssh) return [];
  const { user, host, port } = place.ssh;
  return [
    ...place.sshCommand,
    "-o",
    "BatchMode=yes",
    ...(port === undefined ? [] : ["-p", String(port)]),
    `${user}@${host}`,
  ];
}

/** How rsync names `path` at `place`: the path here, or `user@host:path` (its `-e` says the port). */
export function rsyncPath(place: Place, path: string): string {
  return place.ssh ? `${place.ssh.user}@${place.ssh.host}:${path}` : path;
}

/** rsync's `-e` for `place`: ssh with the same options as every other call. */
export function rsyncShell(place: Place): string | undefined {
  if (!place.ssh) return undefined;
  return sshArguments(place).slice(0, -1).map(shellQuote).join(" ");
}

/** Where a place is, for messages: "here" or "user@host:port". */
export function describePlace(place: Place): string {
  if (!place.ssh) return `host ${place.host} (here)`;
  const { user, host, port } = place.ssh;
  return `host ${place.host} (${user}@${host}${port === undefined ? "" : `:${port}`})`;
}

/**
 * Runs `sh -c script move ARGS...` at `place` with `stdin`; resolves with its stdout, rejects
 * with its exit and the end of its stderr. Bounded by `timeoutMs`.
 */
export function runAt(
  place: Place,
  script: string,
  args: readonly string[],
  options: { readonly stdin?: string; readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<string> {
  const local = ["sh", "-c", script, "semail-move", ...args];
  const [command, ...argv] = place.ssh ? [...sshArguments(place), "--", shellLine(...local)] : local;
  return new Promise((resolve, reject) => {
    const child = spawn(command!, argv, {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 120_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2000)));
    child.on("error", (error) =>
      reject(new PlaceError(`${describePlace(place)}: cannot run ${command}: ${error.message}`)),
    );
    child.on("close", (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new PlaceError(
            `${describePlace(place)}: ${signal ? `killed by ${signal}` : `exit ${code}`}${err.trim() ? `: ${err.trim()}` : ""}`,
          ),
        );
    });
    child.stdin.on("error", () => undefined).end(options.stdin ?? "");
  });
}
