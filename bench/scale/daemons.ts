// The daemons' side of bench/scale: `semail inbound` and `semail outbound` as real processes
// (the bundle with the image's node flags, as they ship), each on a users list of n
// mailboxes; then one mailbox is added at a time, the way the web form writes the list
// (a synced temp file renamed over it), and the time from the rename to the daemon's
// "users list reloaded" line is taken. The daemon's memory is read after the last change.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { BENCH_DOMAIN, syntheticUsersYaml } from "../lib/users-lists.ts";
import { freePort, pss, rss } from "../lib/process.ts";

export type DaemonKind = "inbound" | "outbound";

/** How the daemons are started: node's flags and the entry file. */
export interface Launch {
  readonly node: string;
  readonly args: readonly string[];
}

export interface ReloadSample {
  /** Milliseconds from the rename to the daemon's log line, one per added mailbox. */
  readonly reloadMs: readonly number[];
  /** PSS once listening on the first list, before any change. */
  readonly startPss: number;
  /** After the last change, from /proc/<pid>/smaps_rollup and status. */
  readonly pss: number;
  readonly rss: number;
}

/** The fs.watch debounce of config/users-file.ts, included in every reload time. */
export const WATCH_DEBOUNCE_MS = 50;
/** The users file is also polled every 2 s (watchFile); the next change waits it out so two reloads never overlap. */
const POLL_GAP_MS = 2_300;
const START_LIMIT_MS = 30_000;
const RELOAD_LIMIT_MS = 30_000;

interface LogLine {
  readonly msg?: string;
  readonly mailboxes?: number;
  readonly level?: number;
}

interface Watched {
  readonly child: ChildProcess;
  /** Resolves on the first line (from now on) that `match` accepts; rejects after `ms` or if the process ends. */
  next(match: (line: LogLine) => boolean, what: string, ms: number): Promise<void>;
  stop(): Promise<void>;
}

function watchDaemon(launch: Launch, kind: DaemonKind, config: string): Watched {
  const child = spawn(launch.node, [...launch.args, kind, "--config", config], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: () => void }>();
  let ended: Error | undefined;
  const failAll = new Set<(err: Error) => void>();
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    for (const w of waiters) if (w.match(line)) w.resolve();
  });
  child.once("exit", (code, signal) => {
    ended = new Error(`semail ${kind} exited (${signal ?? code})`);
    for (const fail of failAll) fail(ended);
  });
  return {
    child,
    next(match, what, ms) {
      return new Promise<void>((resolve, reject) => {
        if (ended) return reject(ended);
        const finish = (err?: Error) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          failAll.delete(finish);
          if (err) reject(err);
          else resolve();
        };
        const waiter = { match, resolve: () => finish() };
        const timer = setTimeout(
          () => finish(new Error(`timed out after ${ms} ms waiting for semail ${kind}: ${what}`)),
          ms,
        );
        waiters.add(waiter);
        failAll.add(finish);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function writeSettings(dir: string, kind: DaemonKind, usersFile: string): Promise<string> {
  const config = join(dir, `${kind}.yaml`);
  const common = {
    hostname: `${kind}.${BENCH_DOMAIN}`,
    managedDomain: BENCH_DOMAIN,
    users: usersFile,
    log: { level: "info" },
  };
  const own =
    kind === "inbound"
      ? { inbound: { listen: [`127.0.0.1:${await freePort()}`], mailRoot: join(dir, "mail") } }
      : {
          // Never contacted: nobody logs in during the bench.
          ldap: { url: "ldap://127.0.0.1:9" },
          outbound: {
            listen: [`127.0.0.1:${await freePort()}`],
            spool: join(dir, "spool"),
            delivery: { relayHost: { host: "127.0.0.1", port: 9 }, localAddresses: ["192.0.2.1"] },
          },
        };
  await writeFile(config, stringify({ ...common, ...own }));
  return config;
}

/** Replaces the users file as the web form does; resolves at the rename (the write and its fsync are not timed). */
async function replaceSynced(path: string, text: string): Promise<() => Promise<void>> {
  const temp = `${path}.bench-tmp`;
  const file = await open(temp, "w", 0o640);
  await file.writeFile(text);
  await file.sync();
  await file.close();
  return () => rename(temp, path);
}

/**
 * Starts one daemon on a list of `count` mailboxes, adds `adds` mailboxes one at a time and
 * times each reload; stops the daemon.
 */
export async function measureDaemonReloads(
  launch: Launch,
  kind: DaemonKind,
  dir: string,
  count: number,
  adds: number,
): Promise<ReloadSample> {
  const runDir = join(dir, `${kind}-${count}`);
  await mkdir(runDir, { recursive: true });
  const usersFile = join(runDir, "users.yaml");
  await writeFile(usersFile, syntheticUsersYaml(count));
  const daemon = watchDaemon(launch, kind, await writeSettings(runDir, kind, usersFile));
  try {
    await daemon.next((l) => l.msg === "listening" || l.msg === "outbound listening", "listening", START_LIMIT_MS);
    await new Promise((r) => setTimeout(r, POLL_GAP_MS));
    const pid = daemon.child.pid!;
    const startPss = await pss(pid);
    const reloadMs: number[] = [];
    for (let i = 1; i <= adds; i++) {
      const swap = await replaceSynced(usersFile, syntheticUsersYaml(count + i));
      const reloaded = daemon.next(
        (l) => l.msg === "users list reloaded" && l.mailboxes === count + i,
        `the list of ${count + i}`,
        RELOAD_LIMIT_MS,
      );
      const started = performance.now();
      await swap();
      await reloaded;
      reloadMs.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, POLL_GAP_MS));
    }
    return { reloadMs, startPss, pss: await pss(pid), rss: await rss(pid) };
  } finally {
    await daemon.stop();
  }
}
