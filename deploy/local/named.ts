// A private, authoritative-only BIND (named) on loopback, serving zones given as text.
// `semail start` uses it for local domains; the tests use it as the Internet's DNS.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { access, constants, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import type { Logger } from "pino";
import { canBind } from "./ports.ts";

export interface Zone {
  /** Zone apex, e.g. "example.test". */
  name: string;
  /** Zone file text (RFC 1035 master format). */
  text: string;
}

export interface NamedOptions {
  /** Directory for named.conf, zone files, pid file and named's working files. */
  dataDir: string;
  zones: readonly Zone[];
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** IPv4 address to listen on (default 127.0.0.1); ::1 is added when the host has it. */
  address?: string;
  logger?: Logger;
  /** Path of the named binary. */
  namedPath?: string;
  /** Path of named-checkzone. */
  checkzonePath?: string;
  /** How long to wait for named to answer after start or reload. */
  startTimeoutMs?: number;
  /** An rndc control channel on `address`, with the key `keyName` from `keyFile`; none by default. */
  controls?: { keyFile: string; keyName: string; port: number };
  /** Configuration files named.conf includes (each must exist): zone stanzas another tool installs, as on the VM. */
  includes?: readonly string[];
}

export interface RunningNamed {
  /** "127.0.0.1:PORT", for a resolver's setServers or `--resolver`. */
  server: string;
  port: number;
  /** Replaces the zones (or reloads the same ones) and waits until named serves them. */
  reload(zones?: readonly Zone[]): Promise<void>;
  /** Stops named (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

const INSTALL_HINT = "install it with: apt-get install bind9 bind9-utils";

/** A zone name safe to use as a file name and inside named.conf. */
export function zoneNameProblem(name: string): string | undefined {
  if (
    name.length > 253 ||
    !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)
  ) {
    return `zone name ${JSON.stringify(name)} is not a lower-case domain name`;
  }
  return undefined;
}

export async function startNamed(options: NamedOptions): Promise<RunningNamed> {
  const namedPath = options.namedPath ?? "/usr/sbin/named";
  const checkzonePath = options.checkzonePath ?? "/usr/bin/named-checkzone";
  for (const program of [namedPath, checkzonePath]) {
    try {
      await access(program, constants.X_OK);
    } catch {
      throw new Error(`${program} not found or not executable: ${INSTALL_HINT}`);
    }
  }
  const dataDir = resolvePath(options.dataDir);
  const address = options.address ?? "127.0.0.1";
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const log = options.logger;
  await mkdir(join(dataDir, "zones"), { recursive: true, mode: 0o755 });

  const withIpv6 = await canBind(0, "::1");
  const port = options.port || (await freePort(address, withIpv6));
  const confPath = join(dataDir, "named.conf");
  let zones = [...options.zones];
  // Each reload writes new file names, so named never mistakes a rewritten file for an
  // unchanged one (it compares modification times).
  let generation = 0;

  async function writeConfig(): Promise<void> {
    generation++;
    const files: Array<{ name: string; file: string }> = [];
    for (const zone of zones) {
      const problem = zoneNameProblem(zone.name);
      if (problem) throw new Error(problem);
      const file = join(dataDir, "zones", `${zone.name}.${generation}.zone`);
      files.push({ name: zone.name, file });
      await writeFile(file, zone.text.endsWith("\n") ? zone.text : `${zone.text}\n`);
      try {
        await checkZone(checkzonePath, zone.name, file);
      } catch (err) {
        await Promise.all(files.map((f) => rm(f.file, { force: true })));
        throw err;
      }
    }
    const controls = options.controls;
    const conf = [
      ...(controls ? [`include "${controls.keyFile}";`] : []),
      "options {",
      `  directory "${dataDir}";`,
      `  pid-file "${join(dataDir, "named.pid")}";`,
      `  session-keyfile "${join(dataDir, "session.key")}";`,
      `  managed-keys-directory "${dataDir}";`,
      `  listen-on port ${port} { ${address}; };`,
      `  listen-on-v6 port ${port} { ${withIpv6 ? "::1;" : "none;"} };`,
      "  recursion no;",
      "  allow-query { any; };",
      "  allow-transfer { none; };",
      "  notify no;",
      "  dnssec-validation no;",
      "};",
      // Without controls, no rndc: reloads go by SIGHUP, so no control channel or key to protect.
      controls
        ? `controls { inet ${address} port ${controls.port} allow { ${address}; } keys { "${controls.keyName}"; }; };`
        : "controls { };",
      ...files.map((z) => `zone "${z.name}" { type primary; file "${z.file}"; };`),
      ...(options.includes ?? []).map((file) => `include "${file}";`),
      "",
    ].join("\n");
    await writeFile(confPath, conf);
    // Files of earlier generations are no longer named in the configuration.
    const current = new Set(files.map((f) => f.file));
    for (const entry of await readdir(join(dataDir, "zones"))) {
      const path = join(dataDir, "zones", entry);
      if (!current.has(path)) await rm(path, { force: true });
    }
  }

  await writeConfig();

  const output: string[] = [];
  const child: ChildProcess = spawn(namedPath, ["-g", "-c", confPath, ...(withIpv6 ? [] : ["-4"])], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));
  let partial = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      output.push(line);
      if (output.length > 200) output.shift();
      log?.debug({ named: line }, "named");
    }
  });
  const tail = () => output.slice(-15).join("\n");

  async function stop(): Promise<void> {
    if (exited) return;
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exit;
    clearTimeout(killed);
  }

  /** Polls until every zone's SOA answers from the new generation (bounded). */
  async function waitServing(since: number): Promise<void> {
    const resolver = new Resolver({ timeout: 300, tries: 1 });
    resolver.setServers([`${address}:${port}`]);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`named exited (${exited.code ?? exited.signal}) before serving:\n${tail()}`);
      if (
        output
          .slice(since)
          .some((l) =>
            /reloading configuration failed|loading configuration: failure|exiting \(due to fatal error\)/.test(l),
          )
      ) {
        throw new Error(`named could not load its configuration:\n${tail()}`);
      }
      const reloaded =
        since === 0 || output.slice(since).some((l) => /all zones loaded|reloading zones succeeded/.test(l));
      if (reloaded) {
        const answers = await Promise.all(
          zones.map((z) =>
            resolver.resolveSoa(z.name).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (answers.every(Boolean)) return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`named did not answer on ${address}:${port} within ${timeoutMs} ms:\n${tail()}`);
  }

  try {
    const failed = await Promise.race([spawnFailed, waitServing(0).then(() => undefined)]);
    if (failed) throw new Error(`cannot run ${namedPath}: ${failed.message}; ${INSTALL_HINT}`);
  } catch (err) {
    await stop();
    throw err;
  }
  log?.info({ server: `${address}:${port}`, zones: zones.map((z) => z.name) }, "named started");

  return {
    server: `${address}:${port}`,
    port,
    async reload(next) {
      if (next) zones = [...next];
      await writeConfig();
      const since = output.length;
      child.kill("SIGHUP");
      await waitServing(since);
    },
    stop,
  };
}

function checkZone(checkzonePath: string, name: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(checkzonePath, [name, file], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`zone ${name} is not valid (named-checkzone):\n${(stdout + stderr).trim()}`));
      else resolve();
    });
  });
}

/** A port free for UDP and TCP on the address (and ::1), found by binding port 0 (bounded tries). */
async function freePort(address: string, withIpv6: boolean): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const socket = createSocket(address.includes(":") ? "udp6" : "udp4");
      socket.once("error", reject);
      socket.bind(0, address, () => {
        const chosen = socket.address().port;
        socket.close(() => resolve(chosen));
      });
    });
    const hosts = withIpv6 ? [address, "::1"] : [address];
    const free = await Promise.all(hosts.map((h) => canBind(port, h)));
    if (free.every(Boolean)) return port;
  }
  throw new Error(`no free port for named on ${address}`);
}
