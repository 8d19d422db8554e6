// A throwaway Postfix in a temp directory: its own config_directory and queue_directory,
// smtpd on a loopback port, and a transport chosen by the caller (virtual(8) into mbox
// files for bench/inbound, a relayhost for bench/relay) through main.cf lines. Needs root
// (Postfix drops to the postfix user itself) and the Debian postfix package.
import { execFile } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./process.ts";
import { until } from "../../testkit/until.ts";

const run = promisify(execFile);

export interface PostfixOptions {
  /** Extra main.cf lines (the transport under test). */
  readonly mainCf: readonly string[];
  /** Files to create in the config directory (lookup tables), by name. */
  readonly tables?: Readonly<Record<string, string>>;
  /** Directories to create, owned by uid:gid, before start (e.g. the virtual mailbox base). */
  readonly ownedDirs?: ReadonlyArray<{ readonly path: string; readonly uid: number; readonly gid: number }>;
  /** Max smtpd processes (sessions). */
  readonly processLimit?: number;
}

export interface PostfixInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly port: number;
  /** The master's pid (its children are the other Postfix processes). */
  masterPid(): Promise<number>;
  stop(): Promise<void>;
}

/** A temp directory for startPostfix (or one above it), under which callers keep their files. */
export async function postfixDir(prefix = "semail-bench-postfix-"): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await chmod(dir, 0o755); // Postfix's processes (user postfix) must traverse it
  return dir;
}

const MASTER_CF = (port: number) => `
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`;

/** Starts Postfix under `dir` (from postfixDir); throws with Postfix's own words if it cannot. */
export async function startPostfix(dir: string, options: PostfixOptions): Promise<PostfixInstance> {
  const configDir = path.join(dir, "etc");
  const queueDir = path.join(dir, "queue");
  const dataDir = path.join(dir, "data");
  await mkdir(configDir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  await mkdir(queueDir, { recursive: true });
  const postfixUser = await userIds("postfix");
  await chown(dataDir, postfixUser.uid, postfixUser.gid);
  for (const owned of options.ownedDirs ?? []) {
    await mkdir(owned.path, { recursive: true });
    await chown(owned.path, owned.uid, owned.gid);
  }
  const port = await freePort();
  const mainCf = [
    "compatibility_level = 3.6",
    `queue_directory = ${queueDir}`,
    `data_directory = ${dataDir}`,
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "myhostname = postfix.bench.test",
    "mydestination =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    "smtpd_relay_restrictions = permit_mynetworks reject_unauth_destination",
    "alias_maps =",
    "alias_database =",
    "local_recipient_maps =",
    "biff = no",
    "smtputf8_enable = no",
    "append_dot_mydomain = no",
    `maillog_file = ${path.join(dir, "maillog")}`,
    `maillog_file_prefixes = ${dir}`,
    `default_process_limit = ${options.processLimit ?? 200}`,
    "smtpd_client_connection_count_limit = 0",
    ...options.mainCf,
  ].join("\n");
  await writeFile(path.join(configDir, "main.cf"), `${mainCf}\n`);
  await writeFile(path.join(configDir, "master.cf"), MASTER_CF(port));
  for (const [name, text] of Object.entries(options.tables ?? {})) await writeFile(path.join(configDir, name), text);
  try {
    await run("postfix", ["-c", configDir, "check"]);
    await run("postfix", ["-c", configDir, "start"]);
  } catch (err) {
    // postfix(1) prints its fatal error only to a terminal: ask again under script(1).
    const why = await run("script", ["-qc", `postfix -c ${configDir} check`, "/dev/null"]).then(
      (r) => r.stdout,
      (e: { stdout?: string }) => e.stdout ?? "",
    );
    throw new Error(`postfix did not start: ${why.trim() || (err as Error).message}`);
  }
  const pidFile = path.join(queueDir, "pid", "master.pid");
  const masterPid = async () => Number((await readFile(pidFile, "utf8")).trim());
  await until(async () => (await masterPid().catch(() => 0)) > 0, "postfix master pid", 10_000);
  return {
    dir,
    configDir,
    port,
    masterPid,
    async stop() {
      await run("postfix", ["-c", configDir, "stop"]).catch(() => undefined);
      const pid = await masterPid().catch(() => 0);
      await until(() => !alive(pid), "postfix to stop", 20_000).catch(() => undefined);
    },
  };
}

/** uid and gid of a system user, from /etc/passwd. */
export async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile("/etc/passwd", "utf8")).split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name} (is postfix installed?)`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
