// A private Dovecot for local mode and tests: the files config.ts renders, written under
// `imap.stateDir`, checked with doveconf, and `dovecot -F` as a child; reload(list)
// rewrites the users file when the users list changes, and stop() waits for the exit.
// Dovecot switches to each user's uid, so this needs root (as the image runs it).
import { execFile } from "node:child_process";
import { access, chmod, chown, constants, lstat, mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { closedAncestor } from "../../lib/closed-ancestor.ts";
import { silentLogger } from "../../lib/logger.ts";
import { startForeground } from "../../lib/foreground-child.ts";
import type { Settings } from "../../config/settings.ts";
import type { UsersList } from "../../config/users-list.ts";
import { imapUsers, renderUsersFile, type ImapUser } from "../../config/imap-users.ts";
import { provisioningState } from "../../config/mailbox-layout.ts";
import { imapPaths, renderDovecotConf, renderLdapConf, renderPostLogin } from "./config.ts";

const run = promisify(execFile);
const DOVECOT = "/usr/sbin/dovecot";
const DOVECONF = "/usr/bin/doveconf";
const DOVEADM = "/usr/bin/doveadm";
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 5_000;

export interface ImapOptions {
  /** Uses `imap`, `ldap`, `tls` and `inbound.mailRoot`. */
  readonly settings: Pick<Settings, "imap" | "ldap" | "tls" | "inbound">;
  /** The users list now; later ones come through reload(). */
  readonly list: UsersList;
  readonly logger?: Logger;
}

export interface RunningImap {
  readonly pid: number;
  /** The address clients reach (the first listen address; 127.0.0.1 for a wildcard). */
  readonly host: string;
  readonly ports: { readonly imap: number; readonly imaps: number; readonly pop3s: number };
  /** The rendered dovecot.conf, for doveadm -c. */
  readonly configFile: string;
  /** Renders the users file from `list`, makes the added users' directories, and closes the sessions of users no longer in it. */
  reload(list: UsersList): Promise<void>;
  /** Pids of Dovecot's processes (the master and its children), for memory figures. */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.tmp${process.pid}`;
  await writeFile(temp, text, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}

/** Each user's index and control directory, owned by their mail uid (Dovecot runs as it). */
async function userDirs(stateDir: string, users: readonly ImapUser[]): Promise<void> {
  const paths = imapPaths(stateDir);
  for (const base of [paths.index, paths.control]) await mkdir(base, { recursive: true, mode: 0o755 });
  for (const user of users) {
    for (const base of [paths.index, paths.control]) {
      const dir = join(base, user.owner);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chown(dir, user.uid, user.uid);
    }
  }
}

/**
 * Dovecot locks in the user's root and mail/: they must be the mail uid's (mailbox-fs.sh
 * --uid). Only a provisioned root is judged: before its filesystem is mounted (Dovecot
 * starts before local mode's first apply mounts them), <mailRoot>/<owner> is the empty
 * mount point, root's, which says nothing of the mailbox. Answers the users whose root
 * was not provisioned yet, to be looked at again at the next reload.
 */
export async function checkRootOwners(users: readonly ImapUser[], logger: Logger): Promise<ImapUser[]> {
  const later: ImapUser[] = [];
  for (const user of users) {
    if (provisioningState(user.home) !== "ready") {
      later.push(user);
      continue;
    }
    const root = await lstat(user.home);
    if (root.uid !== user.uid) {
      logger.warn(
        { owner: user.owner, root: user.home, uid: root.uid, mailUid: user.uid },
        "imap: the mailbox root is not owned by its mail uid; IMAP cannot lock its files (provision it with mailbox-fs.sh --uid)",
      );
    }
  }
  return later;
}

/** Who left and who came between two users files, by owner. */
export function usersChange(
  before: readonly ImapUser[],
  after: readonly ImapUser[],
): { gone: ImapUser[]; added: ImapUser[] } {
  const was = new Set(before.map((u) => u.owner));
  const is = new Set(after.map((u) => u.owner));
  return { gone: before.filter((u) => !is.has(u.owner)), added: after.filter((u) => !was.has(u.owner)) };
}

/** Writes every file Dovecot reads, then lets doveconf check them; its complaint names the line. */
export async function writeImapFiles(options: ImapOptions): Promise<string> {
  const { settings } = options;
  const paths = imapPaths(settings.imap.stateDir);
  const conf = renderDovecotConf({
    imap: settings.imap,
    ldap: settings.ldap,
    mailRoot: settings.inbound.mailRoot,
    tls: settings.tls,
  });
  await mkdir(paths.stateDir, { recursive: true, mode: 0o755 });
  await chmod(paths.stateDir, 0o755);
  for (const [setting, path] of [
    ["inbound.mailRoot", settings.inbound.mailRoot],
    ["imap.stateDir", paths.stateDir],
  ] as const) {
    const closed = await closedAncestor(join(path, "x"));
    if (closed !== undefined)
      throw new Error(
        `${setting} ${path}: ${closed} is closed to other users (no o+x), so Dovecot's sessions, which run as each mailbox's uid, cannot reach it: chmod o+x ${closed}`,
      );
  }
  for (const dir of [paths.run, paths.state]) await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeAtomic(paths.config, conf, 0o644);
  // May hold the search account's password: for root (Dovecot's auth process) only.
  await writeAtomic(paths.ldapConfig, renderLdapConf(settings.ldap), 0o600);
  await writeAtomic(paths.postLogin, renderPostLogin(paths.control), 0o755);
  const users = imapUsers(options.list, settings.inbound.mailRoot);
  await userDirs(paths.stateDir, users);
  await writeAtomic(paths.users, renderUsersFile(users), 0o644);
  try {
    await run(DOVECONF, ["-c", paths.config, "-n"], { timeout: 10_000 });
  } catch (err) {
    throw new Error(
      `Dovecot refuses the configuration written to ${paths.config}: ${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`,
    );
  }
  return paths.config;
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once("data", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The children of `pid`, recursively, from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const all: number[] = [];
  const parents = new Map<number, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    const ppid = Number(/\) \S (\d+)/.exec(stat)?.[1]);
    if (!parents.has(ppid)) parents.set(ppid, []);
    parents.get(ppid)!.push(Number(name));
  }
  const stack = [pid];
  while (stack.length > 0) {
    const next = stack.pop()!;
    all.push(next);
    stack.push(...(parents.get(next) ?? []));
  }
  return all;
}

/** Starts Dovecot with the settings' listeners and waits until every one greets. */
export async function startImap(options: ImapOptions): Promise<RunningImap> {
  const logger = options.logger ?? silentLogger();
  if (process.getuid?.() !== 0)
    throw new Error("IMAP (Dovecot) needs root: it runs each user's session as their mail uid");
  for (const program of [DOVECOT, DOVECONF, DOVEADM]) {
    await access(program, constants.X_OK).catch(() => {
      throw new Error(
        `${program} not found: install it with "apt-get install dovecot-imapd dovecot-pop3d dovecot-ldap"`,
      );
    });
  }
  const { imap } = options.settings;
  const configFile = await writeImapFiles(options);
  let users = imapUsers(options.list, options.settings.inbound.mailRoot);
  let unchecked = await checkRootOwners(users, logger);

  const dovecot = await startForeground(DOVECOT, ["-F", "-c", configFile], {
    name: "dovecot",
    logger,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  const { child, stop } = dovecot;

  const first = imap.listen[0]!;
  const host = first === "*" ? "127.0.0.1" : first === "::" ? "::1" : first;
  const ports = [imap.imapPort, imap.imapsPort, imap.pop3sPort].filter((p) => p !== 0);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `dovecot exited (${child.exitCode ?? child.signalCode}) while starting: ${dovecot.output().trim()}`,
      );
    // The TLS listeners greet only after a handshake: a connection accepted is enough there.
    if (
      (await Promise.all(ports.map((p) => (p === imap.imapPort ? answers(host, p) : canConnect(host, p))))).every(
        Boolean,
      )
    )
      break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `dovecot did not answer on ${host}:${ports.join(",")} within ${START_TIMEOUT_MS} ms: ${dovecot.output().trim()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  logger.info({ host, ports, pid: child.pid }, "imap: dovecot listening");

  return {
    pid: child.pid!,
    host,
    ports: { imap: imap.imapPort, imaps: imap.imapsPort, pop3s: imap.pop3sPort },
    configFile,
    async reload(list) {
      const next = imapUsers(list, options.settings.inbound.mailRoot);
      const paths = imapPaths(imap.stateDir);
      const { gone, added } = usersChange(users, next);
      // The users already there have theirs since start (a uid follows from the owner alone).
      await userDirs(imap.stateDir, added);
      // Roots mounted since (the first apply after a start mounts them all) are judged now, once.
      const listed = new Set(next.map((u) => u.owner));
      unchecked = await checkRootOwners([...unchecked.filter((u) => listed.has(u.owner)), ...added], logger);
      // Dovecot looks at the file's mtime at each lookup: the new list counts from the next login.
      await writeAtomic(paths.users, renderUsersFile(next), 0o644);
      users = next;
      await untilDovecotSees(configFile, gone, added);
      for (const user of gone) {
        // Exit status 68 is "no such user connected": nothing to close.
        await run(DOVEADM, ["-c", configFile, "kick", user.owner], { timeout: 10_000 }).catch(
          (err: { code?: number; stderr?: string }) => {
            if (err.code !== 68)
              logger.warn(
                { owner: user.owner, err: String(err.stderr ?? err).trim() },
                "imap: could not close the sessions of a removed user",
              );
          },
        );
      }
      logger.info({ users: next.length, closed: gone.map((u) => u.owner) }, "imap: users file rewritten");
    },
    pids: () => descendants(child.pid!),
    stop,
  };
}

/** Whether Dovecot's userdb knows `owner` now (doveadm user: exit status 67 is "no such user"). */
async function knows(configFile: string, owner: string): Promise<boolean> {
  return run(DOVEADM, ["-c", configFile, "user", "-u", owner], { timeout: 10_000 }).then(
    () => true,
    (err: { code?: number; stderr?: string }) => {
      if (err.code === 67) return false;
      throw new Error(`doveadm user ${owner}: ${String(err.stderr ?? err).trim()}`);
    },
  );
}

/**
 * Dovecot re-reads the users file at a lookup at most once a second (when its mtime or size
 * changed): asks until the removed users are gone and the added ones there (bounded), so a
 * login after reload() resolves sees the new list.
 */
async function untilDovecotSees(
  configFile: string,
  gone: readonly ImapUser[],
  added: readonly ImapUser[],
): Promise<void> {
  const probe = gone[0] ?? added[0];
  if (probe === undefined) return;
  const want = gone[0] === undefined;
  for (const deadline = Date.now() + RELOAD_TIMEOUT_MS; (await knows(configFile, probe.owner)) !== want; ) {
    if (Date.now() > deadline)
      throw new Error(
        `dovecot still ${want ? "lacks" : "knows"} ${probe.owner} ${RELOAD_TIMEOUT_MS} ms after the users file was rewritten`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
