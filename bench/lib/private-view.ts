// Starts a peer MTA in a mount namespace of its own (unshare(1)), where the few system paths
// its Debian build has compiled in (its helpers' folder, its spool, /var/mail, the users it
// runs as) are bind mounts of the bench's temp dir. The machine's own files are never
// written: the users exist only in that namespace's /etc/passwd, and the mounts vanish
// with its last process.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, open, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { RELEASE_LOOP_MOUNT_COPIES } from "../../testkit/loop-mount-copies.ts";
import { until } from "../../testkit/until.ts";

export interface ViewUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface PrivateView {
  /** Users (and a group of the same name and gid) added to the namespace's passwd and group. */
  readonly users: readonly ViewUser[];
  /** `source` mounted over `target` (an existing path) inside the namespace. */
  readonly binds: ReadonlyArray<{ readonly source: string; readonly target: string }>;
}

/** `count` consecutive ids above `from` that neither /etc/passwd nor /etc/group uses. */
export async function freeIds(count: number, from = 61000): Promise<number[]> {
  const used = new Set<number>();
  for (const file of ["/etc/passwd", "/etc/group"])
    for (const line of (await readFile(file, "utf8")).split("\n")) used.add(Number(line.split(":")[2]));
  const ids: number[] = [];
  for (let id = from; ids.length < count && id < 65534; id++) if (!used.has(id)) ids.push(id);
  if (ids.length < count) throw new Error(`fewer than ${count} free uids between ${from} and 65534`);
  return ids;
}

async function accountFiles(dir: string, users: readonly ViewUser[]): Promise<{ passwd: string; group: string }> {
  await mkdir(dir, { recursive: true });
  const passwd = path.join(dir, "passwd");
  const group = path.join(dir, "group");
  const groups = new Map(users.map((u) => [u.gid, u.name]));
  await writeFile(
    passwd,
    (await readFile("/etc/passwd", "utf8")) +
      users.map((u) => `${u.name}:x:${u.uid}:${u.gid}::${u.home}:/usr/sbin/nologin\n`).join(""),
  );
  const existing = await readFile("/etc/group", "utf8");
  const known = new Set(existing.split("\n").map((l) => Number(l.split(":")[2])));
  await writeFile(
    group,
    existing +
      [...groups]
        .filter(([gid]) => !known.has(gid))
        .map(([gid, name]) => `${name}:x:${gid}:\n`)
        .join(""),
  );
  return { passwd, group };
}

export interface ViewProcess {
  readonly child: ChildProcess;
  /** The pids of the daemon's processes now (every process in its namespace). */
  members(): Promise<number[]>;
  /** The daemon's output so far (stdout and stderr). */
  output(): Promise<string>;
  /** SIGTERM, then waits until the daemon and every process it started are gone (SIGKILL after `ms`). */
  stop(ms?: number): Promise<void>;
}

/** Runs `command` as root in the view; `dir` holds the view's account files and the output. */
export async function spawnInView(
  dir: string,
  view: PrivateView,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ViewProcess> {
  const accounts = await accountFiles(path.join(dir, "view-etc"), view.users);
  const binds = [
    { source: accounts.passwd, target: "/etc/passwd" },
    { source: accounts.group, target: "/etc/group" },
    ...view.binds,
  ];
  // Paths travel as arguments, never inside the script text: no quoting to get wrong.
  const script = `${RELEASE_LOOP_MOUNT_COPIES}\nset -e\nwhile [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done\nshift\nexec "$@"`;
  const logFile = path.join(dir, "daemon.log");
  const log = await open(logFile, "w");
  const child = spawn(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      script,
      "sh",
      ...binds.flatMap((b) => [b.source, b.target]),
      "--",
      command,
      ...args,
    ],
    { stdio: ["ignore", log.fd, log.fd], env },
  );
  await log.close();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // The namespace names the daemon's processes, those it forks after a stop included.
  const own = await readlink("/proc/self/ns/mnt");
  let namespace = "";
  await until(
    async () => {
      namespace = await readlink(`/proc/${child.pid}/ns/mnt`).catch(() => own);
      if (child.exitCode !== null) throw new Error(`${command} exited at once: ${await readFile(logFile, "utf8")}`);
      return namespace !== own;
    },
    `${command}'s mount namespace`,
    5_000,
  );
  const members = () => processesIn(namespace);
  return {
    child,
    members,
    output: () => readFile(logFile, "utf8").catch(() => ""),
    async stop(ms = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await until(async () => (await members()).length === 0, `${command} and its processes to stop`, ms, 50).catch(
        async () => {
          for (const pid of await members()) process.kill(pid, "SIGKILL");
          await until(async () => (await members()).length === 0, `${command} to be killed`, 5_000, 50);
        },
      );
      await exited;
    },
  };
}

/** Live processes (zombies, dead but not yet reaped, excepted) in the mount namespace `namespace`. */
async function processesIn(namespace: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    if ((await readlink(`/proc/${name}/ns/mnt`).catch(() => "")) !== namespace) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (stat !== "" && stat[stat.lastIndexOf(")") + 2] !== "Z") pids.push(Number(name));
  }
  return pids;
}
