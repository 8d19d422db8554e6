// A private Roundcube for local mode and tests: the files config.ts renders, written under
// `webmail.stateDir`, served by `php -S` (PHP's built-in server) on loopback with
// ROUNDCUBE_CONFIG_DIR pointing at them and `webmail.workers` PHP workers, its log on
// stdout (to the logger). reload(list) rewrites the address file when the users list
// changes and points identities at the new addresses; stop() ends the server and its
// workers. As root, PHP runs as www-data: only the database and temp files are its own.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  access,
  chmod,
  chown,
  constants,
  copyFile,
  mkdir,
  readFile,
  readdir,
  rename,
  writeFile,
} from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { silentLogger } from "../../lib/logger.ts";
import type { Settings } from "../../config/settings.ts";
import type { UsersList } from "../../config/users-list.ts";
import { closedAncestor } from "../../lib/closed-ancestor.ts";
import { renderAddressFile } from "../../config/webmail-addresses.ts";
import { renderRoundcubeConfig, type RoundcubeConfig } from "./config.ts";
import { createIdentitySync } from "./identity-sync.ts";

const run = promisify(execFile);
const PHP = "/usr/bin/php";
/** Debian's Roundcube (roundcube-core): the web root and the defaults its configuration starts from. */
export const ROUNDCUBE = {
  webRoot: "/var/lib/roundcube/public_html",
  defaults: "/etc/roundcube/defaults.inc.php",
  mimeTypes: "/etc/roundcube/mimetypes.php",
} as const;
export const WEBMAIL_PACKAGES =
  "roundcube roundcube-core roundcube-sqlite3 roundcube-plugins php8.2-sqlite3 php8.2-fpm";
/** A file of each Debian package the webmail needs, and the package: for a "missing package" check. */
export const WEBMAIL_PREREQUISITES: ReadonlyArray<readonly [path: string, pkg: string]> = [
  [PHP, "php8.2-cli"],
  ["/usr/lib/php/20220829/pdo_sqlite.so", "php8.2-sqlite3"],
  [`${ROUNDCUBE.webRoot}/index.php`, "roundcube-core"],
  ["/usr/share/roundcube/plugins/virtuser_file/virtuser_file.php", "roundcube-plugins"],
];
/**
 * Debian's php.ini turns PHP's session garbage collection off (its cron job cleans up
 * instead); without cron, Roundcube's expired sessions and temp files would stay forever:
 * one request in 100 cleans them.
 */
export const PHP_FLAGS = ["-d", "session.gc_probability=1", "-d", "session.gc_divisor=100"] as const;
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export interface WebmailOptions {
  /** Uses `webmail`; `imap` and `outbound.listen` say where Dovecot and the submission are. */
  readonly settings: Pick<Settings, "webmail" | "imap" | "outbound">;
  /** The users list now; later ones come through reload(). */
  readonly list: UsersList;
  readonly logger?: Logger;
}

export interface RunningWebmail {
  /** http://HOST:PORT/ */
  readonly url: string;
  readonly pid: number;
  /** Rewrites the address file (mailbox address ↔ uid) from `list`, and points existing identities at the addresses. */
  reload(list: UsersList): Promise<void>;
  /** Pids of PHP's processes (the server and its workers), for memory figures. */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

export interface WebmailPaths {
  readonly stateDir: string;
  readonly configDir: string;
  readonly config: string;
  readonly desKey: string;
  readonly database: string;
  readonly temp: string;
  readonly addresses: string;
}

export function webmailPaths(stateDir: string): WebmailPaths {
  return {
    stateDir,
    configDir: join(stateDir, "config"),
    config: join(stateDir, "config", "config.inc.php"),
    desKey: join(stateDir, "des_key"),
    database: join(stateDir, "db", "roundcube.sqlite"),
    temp: join(stateDir, "temp"),
    addresses: join(stateDir, "addresses"),
  };
}

/** Where Roundcube reaches Dovecot and the outbound daemon, from their settings (loopback). */
export function localEndpoints(
  settings: Pick<Settings, "imap" | "outbound">,
): Pick<RoundcubeConfig, "imapHost" | "imapPeer" | "smtpHost" | "smtpPeer"> {
  const { imap, outbound } = settings;
  if (imap.imapPort === 0)
    throw new Error("webmail: imap.imapPort is 0, and Roundcube logs in to Dovecot with STARTTLS there");
  const first = imap.listen[0]!;
  const imapAddress =
    first === "*" ? "127.0.0.1" : first === "::" ? "[::1]" : first.includes(":") ? `[${first}]` : first;
  // The first IPv4 submission listener, else the first one; a wildcard is reached on loopback.
  const submission = (outbound.listen.find((l) => /^[0-9.*]+:/.test(l.spec)) ?? outbound.listen[0]!).spec;
  const smtpHost = submission
    .replace(/^(\*|0\.0\.0\.0):/, "127.0.0.1:")
    .replace(/^\[::\]:/, "[::1]:")
    .replace(/\/tls$/, "");
  return {
    imapHost: `tls://${imapAddress}:${imap.imapPort}`,
    imapPeer: { verify: false },
    smtpHost,
    smtpPeer: { verify: false },
  };
}

async function writeAtomic(
  path: string,
  text: string,
  mode: number,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const temp = `${path}.tmp${process.pid}`;
  await writeFile(temp, text, { mode });
  await chmod(temp, mode);
  if (owner) await chown(temp, owner.uid, owner.gid);
  await rename(temp, path);
}

/** The uid and gid PHP runs as: www-data when we are root, else ourselves. */
async function phpUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile("/etc/passwd", "utf8");
  const entry = passwd.split("\n").find((line) => line.startsWith("www-data:"));
  if (entry === undefined)
    throw new Error("webmail: there is no www-data user to run PHP as (Debian's base-passwd makes it)");
  const [, , uid, gid] = entry.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Writes every file Roundcube reads; the des_key is made once and kept. */
export async function writeWebmailFiles(options: WebmailOptions): Promise<WebmailPaths> {
  const { webmail } = options.settings;
  const paths = webmailPaths(webmail.stateDir);
  const user = await phpUser();
  const group = user ? { uid: 0, gid: user.gid } : undefined;
  if (user) {
    const closed = await closedAncestor(join(paths.stateDir, "x"));
    if (closed !== undefined)
      throw new Error(
        `webmail.stateDir ${paths.stateDir}: ${closed} is closed to other users (no o+x), so PHP, which runs as www-data, cannot reach it: chmod o+x ${closed}`,
      );
  }
  await mkdir(paths.stateDir, { recursive: true, mode: 0o755 });
  await mkdir(paths.configDir, { recursive: true, mode: 0o755 });
  for (const dir of [join(paths.stateDir, "db"), paths.temp]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (user) await chown(dir, user.uid, user.gid);
  }
  // Roundcube reads its defaults from the configuration directory it is given.
  await copyFile(ROUNDCUBE.defaults, join(paths.configDir, "defaults.inc.php"));
  await copyFile(ROUNDCUBE.mimeTypes, join(paths.configDir, "mimetypes.php"));
  const key = await readFile(paths.desKey, "utf8").catch(() => "");
  if (key.trim().length < 32)
    await writeAtomic(paths.desKey, `${randomBytes(24).toString("base64url")}\n`, 0o640, group);
  else if (group) await chown(paths.desKey, group.uid, group.gid);
  const config = renderRoundcubeConfig({
    ...localEndpoints(options.settings),
    desKeyFile: paths.desKey,
    databaseFile: paths.database,
    tempDir: paths.temp,
    addressFile: paths.addresses,
    sessionMinutes: webmail.sessionMinutes,
    behindTls: webmail.behindTls,
  });
  await writeAtomic(paths.config, config, 0o640, group);
  await writeAtomic(paths.addresses, renderAddressFile(options.list), 0o644);
  try {
    await run(PHP, ["-l", paths.config], { timeout: 10_000 });
  } catch (err) {
    throw new Error(
      `webmail: PHP refuses the configuration written to ${paths.config}: ${String((err as { stdout?: string }).stdout ?? err).trim()}`,
    );
  }
  return paths;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once("exit", () => ok()));
}

/** The status of GET url (0 when nothing answers). */
function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(0));
    req.end();
  });
}

/** Whether a process of group `pgid` still runs (a zombie, which only its parent can reap, does not). */
async function groupAlive(pgid: number): Promise<boolean> {
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const fields = /\) (\S) \d+ (\d+)/.exec(await readFile(`/proc/${name}/stat`, "utf8").catch(() => ""));
    if (fields && Number(fields[2]) === pgid && fields[1] !== "Z") return true;
  }
  return false;
}

async function children(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (Number(/\) \S (\d+)/.exec(stat)?.[1]) === pid) found.push(Number(name));
  }
  return found;
}

/** Starts Roundcube under `php -S` on `webmail.listen` and waits until its login page answers. */
export async function startWebmail(options: WebmailOptions): Promise<RunningWebmail> {
  const logger = options.logger ?? silentLogger();
  const { webmail } = options.settings;
  for (const [file] of WEBMAIL_PREREQUISITES) {
    await access(file, constants.R_OK).catch(() => {
      throw new Error(
        `${file} not found: install Roundcube with "apt-get install --no-install-recommends ${WEBMAIL_PACKAGES}"`,
      );
    });
  }
  const paths = await writeWebmailFiles(options);
  const syncIdentities = createIdentitySync(paths.database);
  await syncIdentities(options.list);
  const user = await phpUser();
  const child = spawn(PHP, [...PHP_FLAGS, "-S", webmail.listen.spec, "-t", ROUNDCUBE.webRoot], {
    cwd: ROUNDCUBE.webRoot,
    env: {
      PATH: "/usr/bin:/bin",
      ROUNDCUBE_CONFIG_DIR: paths.configDir,
      PHP_CLI_SERVER_WORKERS: String(webmail.workers),
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: the workers outlive a SIGTERM to the server alone, so stop() signals the group.
    detached: true,
    ...(user ?? {}),
  });
  let output = "";
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding("utf8").on("data", (text: string) => {
      output = (output + text).slice(-8000);
      for (const line of text.split("\n")) if (line.trim()) logger.debug({ php: line.trim() }, "webmail");
    });
  }
  const spawned = await new Promise<Error | undefined>((ok) => {
    child.once("spawn", () => ok(undefined));
    child.once("error", ok);
  });
  if (spawned) throw new Error(`cannot run ${PHP}: ${spawned.message}`);

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = exited(child);
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, name);
      } catch {
        // The group is gone already.
      }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), STOP_TIMEOUT_MS);
    await done;
    clearTimeout(timer);
    // The workers, which the server does not wait for.
    for (const deadline = Date.now() + STOP_TIMEOUT_MS; (await groupAlive(child.pid!)) && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 50));
    if (await groupAlive(child.pid!)) signal("SIGKILL");
  };

  const url = `http://${webmail.listen.spec}/`;
  for (const deadline = Date.now() + START_TIMEOUT_MS; ; ) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`php -S exited (${child.exitCode ?? child.signalCode}) while starting: ${output.trim()}`);
    if ((await status(url)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the webmail did not answer on ${url} within ${START_TIMEOUT_MS} ms: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  logger.info({ url, pid: child.pid, workers: webmail.workers }, "webmail: roundcube listening");

  return {
    url,
    pid: child.pid!,
    async reload(list) {
      await writeAtomic(paths.addresses, renderAddressFile(list), 0o644);
      const identities = await syncIdentities(list);
      logger.info(
        { addresses: list.mailboxes.filter((m) => m.pendingProof === undefined).length, identities },
        "webmail: address file rewritten, identities follow the users list",
      );
    },
    async pids() {
      if (child.exitCode !== null || child.signalCode !== null) return [];
      return [child.pid!, ...(await children(child.pid!))];
    },
    stop,
  };
}
