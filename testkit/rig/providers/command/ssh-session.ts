// One remote command over the real OpenSSH client, as upstream runs one SSH session: the
// private key in a 0600 file and the host key in a known_hosts file of a private temp dir
// (removed after), strict host key checking when `hostKey` is given, the jump host through
// a ProxyCommand with the same care, and dialling retried as upstream does.
//
// ssh says 255 both when it cannot connect and when the remote command exits 255, so the
// remote shell first writes a marker line to stderr: no marker means the dial failed.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shellQuote } from "../../../../lib/shell.ts";
import type { SshConnection, SshEndpoint } from "./connection.ts";
import { withDialRetry, type DialOutcome } from "./dial-retry.ts";
import { hostKeyAlgorithms, knownHostsLine, parseHostKey } from "./host-key.ts";

export interface RemoteRun {
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived (what upstream puts in its error). */
  readonly combined: string;
  /** The remote command's exit status. */
  readonly exitCode: number;
}

/** What the remote command reads: text, or a local file streamed (CopyToRemote). */
export type Stdin = { readonly text: string } | { readonly file: string };

export interface RunOptions {
  readonly stdin?: Stdin;
  /** Exported before the command (upstream asks sshd with setenv). */
  readonly env?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

interface EndpointFiles {
  readonly key: string;
  readonly knownHosts: string;
  /** The name the host key is filed under (HostKeyAlias), whatever the address. */
  readonly alias: string;
}

/** ssh's options for one endpoint: only these files, no agent, no user or system config. */
export function endpointOptions(endpoint: SshEndpoint, files: EndpointFiles): string[] {
  const hostKey = endpoint.hostKey === undefined ? undefined : parseHostKey(endpoint.hostKey);
  const option = (setting: string) => ["-o", setting];
  return [
    "-F",
    "/dev/null",
    "-T",
    "-i",
    files.key,
    ...option("IdentitiesOnly=yes"),
    ...option("IdentityAgent=none"),
    ...option("BatchMode=yes"),
    ...option(`UserKnownHostsFile="${files.knownHosts}"`),
    ...option("GlobalKnownHostsFile=/dev/null"),
    ...option(`HostKeyAlias=${files.alias}`),
    ...option(`StrictHostKeyChecking=${hostKey ? "yes" : "accept-new"}`),
    ...(hostKey ? option(`HostKeyAlgorithms=${hostKeyAlgorithms(hostKey)}`) : []),
    ...option("CheckHostIP=no"),
    ...option("UpdateHostKeys=no"),
    ...option("ConnectionAttempts=1"),
    ...(endpoint.perDialTimeout > 0 ? option(`ConnectTimeout=${endpoint.perDialTimeout}`) : []),
    // A dead peer ends the session within a minute instead of hanging the engine.
    ...option("ServerAliveInterval=15"),
    ...option("ServerAliveCountMax=4"),
    ...option("LogLevel=ERROR"),
    "-p",
    String(endpoint.port),
    "-l",
    endpoint.user,
  ];
}

/** The ProxyCommand that reaches the target through the jump host (`ssh -W %h:%p`). */
export function proxyCommand(proxy: SshEndpoint, files: EndpointFiles): string {
  const words = ["ssh", ...endpointOptions(proxy, files)].map((w) => shellQuote(w).replace(/%/g, "%%"));
  return `${words.join(" ")} -W %h:%p -- ${shellQuote(proxy.host).replace(/%/g, "%%")}`;
}

async function writeEndpointFiles(dir: string, name: string, endpoint: SshEndpoint): Promise<EndpointFiles> {
  const files = {
    key: join(dir, `${name}.key`),
    knownHosts: join(dir, `${name}.known_hosts`),
    alias: `semail-rig-${name}`,
  };
  const key = endpoint.privateKey.endsWith("\n") ? endpoint.privateKey : `${endpoint.privateKey}\n`;
  await writeFile(files.key, key, { mode: 0o600 });
  const known = endpoint.hostKey === undefined ? "" : knownHostsLine(files.alias, parseHostKey(endpoint.hostKey));
  await writeFile(files.knownHosts, known, { mode: 0o600 });
  return files;
}

/** The command line the remote shell gets: marker, exports, then the command itself. */
export function remoteCommandLine(marker: string, command: string, env: Readonly<Record<string, string>> = {}): string {
  const exports = Object.entries(env).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new Error(`environment variable name ${JSON.stringify(name)} cannot be exported by a shell`);
    return `export ${name}=${shellQuote(value)}\n`;
  });
  return `printf '%s\\n' ${marker} >&2\n${exports.join("")}${command}`;
}

function runOnce(
  args: readonly string[],
  marker: string,
  stdin: Stdin | undefined,
  signal: AbortSignal,
): Promise<DialOutcome<RemoteRun>> {
  return new Promise((resolve, reject) => {
    const { SSH_AUTH_SOCK: _agent, ...env } = process.env;
    const child = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"], signal, env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const both: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      out.push(chunk);
      both.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err.push(chunk);
      both.push(chunk);
    });
    // The remote side may exit without reading all of stdin; that is its business.
    child.stdin.on("error", () => {});
    if (stdin === undefined) child.stdin.end();
    else if ("text" in stdin) child.stdin.end(stdin.text);
    else {
      createReadStream(stdin.file)
        .on("error", (e) => {
          child.kill();
          reject(e);
        })
        .pipe(child.stdin);
    }
    child.on("error", reject);
    child.on("close", (code, killedBy) => {
      const markerLine = `${marker}\n`;
      const stderr = Buffer.concat(err).toString("utf8");
      if (!stderr.includes(markerLine)) {
        const why = stderr.trim() || `ssh ended with ${code ?? killedBy}`;
        if (code === 255 || code === null) return resolve({ dialed: false, error: why });
        return reject(new Error(`ssh failed before the remote command started: ${why}`));
      }
      resolve({
        dialed: true,
        value: {
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: stderr.replace(markerLine, ""),
          combined: Buffer.concat(both).toString("utf8").replace(markerLine, ""),
          exitCode: code ?? 255,
        },
      });
    });
  });
}

/** Runs `command` on the connection's host (the user's shell runs it, as for upstream). */
export async function runRemote(connection: SshConnection, command: string, options: RunOptions): Promise<RemoteRun> {
  const dir = await mkdtemp(join(tmpdir(), "semail-rig-ssh-"));
  try {
    const target = await writeEndpointFiles(dir, "target", connection);
    const proxy = connection.proxy && (await writeEndpointFiles(dir, "proxy", connection.proxy));
    const marker = `semail-rig-session-${randomBytes(8).toString("hex")}`;
    const args = [
      ...endpointOptions(connection, target),
      ...(connection.proxy && proxy ? ["-o", `ProxyCommand=${proxyCommand(connection.proxy, proxy)}`] : []),
      "--",
      connection.host,
      remoteCommandLine(marker, command, options.env),
    ];
    return await withDialRetry(
      connection.dialErrorLimit,
      () => runOnce(args, marker, options.stdin, options.signal),
      options.signal,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
