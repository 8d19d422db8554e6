// What a dockerd of local mode's own changes on this machine outside its own directories,
// and putting it back once it has stopped. Measured with Docker 20.10 as local mode starts it
// (--iptables=false, its own --exec-root, a container run): it turns IPv4 forwarding on
// (net.ipv4.ip_forward, which the kernel copies to every net.ipv4.conf.*.forwarding), and
// makes /run/docker/plugins (plugin sockets, a fixed path) and, once a container runs, its
// containerd's shims make /run/containerd/s (shim sockets, a fixed path). Nothing else under
// /run outside the exec root, and no other sysctl; the IPv6 and bridge-netfilter ones, which
// dockerd sets with other flags, are recorded too, as they cost nothing to check.
//
// The values are recorded before dockerd starts, in a file under its own /run directory (gone
// with a reboot, as the values are), so a start that was killed is undone by the next one.
// They are put back only when no other engine shares them: another dockerd in this network
// namespace may need forwarding, and another engine in this mount namespace may use /run's dirs.
// When that engine is another local mode's, which started after ours (so it recorded our
// values as its "before"), our record is handed on to it: the last one out puts back the
// machine as it was before the first.
import { readdir, readFile, readlink, rm, rmdir, stat, writeFile } from "node:fs/promises";

/** Parents before children: removed in reverse, each only when empty. */
const RUN_DIRS = ["/run/docker", "/run/docker/plugins", "/run/containerd", "/run/containerd/s"];
/** ip_forward first: writing it resets every interface's value, which are put back after it. */
const FIXED_SYSCTLS = [
  "net/ipv4/ip_forward",
  "net/ipv4/conf/default/forwarding",
  "net/ipv6/conf/all/forwarding",
  "net/ipv6/conf/default/forwarding",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
];

interface Before {
  /** /proc/sys path below /proc/sys -> value before dockerd started. */
  readonly sysctls: Record<string, string>;
  /** Those of RUN_DIRS that were not there. */
  readonly absentRunDirs: readonly string[];
}

const readSysctl = (key: string) =>
  readFile(`/proc/sys/${key}`, "utf8").then(
    (v) => v.trim(),
    () => undefined,
  );
const dotted = (key: string) => key.replaceAll("/", ".");
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Every sysctl of ours to keep: the fixed ones and each interface's IPv4 forwarding. */
async function sysctlKeys(): Promise<string[]> {
  const interfaces = (await readdir("/proc/sys/net/ipv4/conf").catch(() => [] as string[])).filter(
    (name) => name !== "all" && name !== "default",
  );
  return [...FIXED_SYSCTLS, ...interfaces.map((name) => `net/ipv4/conf/${name}/forwarding`)];
}

/**
 * Records, in `file`, what a dockerd about to start may change. A record already there is
 * kept: it was made before a start that was killed, and holds the values from before that.
 */
export async function recordHostState(file: string): Promise<void> {
  if (await exists(file)) return;
  const sysctls: Record<string, string> = {};
  for (const key of await sysctlKeys()) {
    const value = await readSysctl(key);
    if (value !== undefined) sysctls[key] = value;
  }
  const absentRunDirs: string[] = [];
  for (const dir of RUN_DIRS) if (!(await exists(dir))) absentRunDirs.push(dir);
  await writeFile(file, `${JSON.stringify({ sysctls, absentRunDirs } satisfies Before)}\n`, { mode: 0o600 });
}

/** An engine other than ours sharing a namespace with us: "dockerd (pid 42)", and its record when it is local mode's. */
interface OtherEngine {
  readonly label: string;
  readonly record: string | undefined;
}

/** How restoreHostState tells our engine from others, and finds another local mode's record. */
export interface EngineIdentity {
  /** Our engine's processes name one of these on their command line (its /run directory). */
  readonly ownPaths: readonly string[];
  /** The record of another local mode's engine, from one of its processes' command line; undefined for any other engine. */
  readonly recordOf: (cmdline: string) => string | undefined;
}

/** Processes named in `names`, in our `namespace` of that kind, that are not our engine's. */
async function otherEngines(
  names: readonly string[],
  namespace: "net" | "mnt",
  identity: EngineIdentity,
): Promise<OtherEngine[]> {
  const ours = await readlink(`/proc/self/ns/${namespace}`).catch(() => "");
  const found: OtherEngine[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    const name = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim();
    if (!names.includes(name)) continue;
    if ((await readlink(`/proc/${pid}/ns/${namespace}`).catch(() => "")) !== ours) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replaceAll("\0", " ");
    if (identity.ownPaths.some((path) => cmdline.includes(path))) continue;
    found.push({ label: `${name} (pid ${pid})`, record: identity.recordOf(cmdline) });
  }
  return found;
}

async function readRecord(file: string): Promise<Before | undefined> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  try {
    return text === undefined ? undefined : (JSON.parse(text) as Before);
  } catch {
    return undefined;
  }
}

/** Writes `change` into the records of those of `engines` that are local mode's; answers whether any took it. */
async function handOn(engines: readonly OtherEngine[], change: (record: Before) => Before): Promise<boolean> {
  let taken = false;
  for (const file of new Set(engines.map((e) => e.record).filter((r): r is string => r !== undefined))) {
    const record = await readRecord(file);
    if (record === undefined) continue;
    await writeFile(file, `${JSON.stringify(change(record))}\n`, { mode: 0o600 });
    taken = true;
  }
  return taken;
}

/**
 * Puts back what `file` recorded, once our dockerd has stopped: the sysctls it changed, and
 * the /run directories its dockerd and containerd made (only when empty). `say` gets a line
 * per change or per thing left, with why. The record is then removed.
 */
export async function restoreHostState(
  file: string,
  identity: EngineIdentity,
  say: (line: string) => void,
): Promise<void> {
  if (!(await exists(file))) return;
  const before = await readRecord(file);
  if (before === undefined) {
    // Cut short by a crash while it was written: nothing can be put back from it.
    say(`  ${file} is damaged; what dockerd changed is left as it is`);
    await rm(file, { force: true });
    return;
  }

  const changed: string[] = [];
  const now: Record<string, string> = {};
  for (const key of Object.keys(before.sysctls)) {
    const value = await readSysctl(key);
    if (value !== undefined && value !== before.sysctls[key]) changed.push(key);
    if (value !== undefined) now[key] = value;
  }
  // Only the first of a family is said: ip_forward carries every interface's forwarding.
  const shown = changed.filter(
    (key) => !/^net\/ipv4\/conf\/[^/]+\/forwarding$/.test(key) || !changed.includes("net/ipv4/ip_forward"),
  );
  if (changed.length > 0) {
    const engines = await otherEngines(["dockerd"], "net", identity);
    if (engines.length > 0) {
      const handed = await handOn(engines, (r) => ({
        ...r,
        sysctls: { ...r.sysctls, ...Object.fromEntries(changed.map((key) => [key, before.sysctls[key]!])) },
      }));
      const then = handed ? "; local mode's other engine puts it back when it stops" : " and may need it";
      say(
        `  ${shown.map((key) => `${dotted(key)} stays ${now[key]} (it was ${before.sysctls[key]})`).join(", ")}: another Docker engine runs here (${engines.map((e) => e.label).join(", ")})${then}`,
      );
    } else {
      // Every key, in order, each read again: putting ip_forward back resets every interface's
      // value, so one that differed from it before is put back after it.
      for (const key of Object.keys(before.sysctls)) {
        const value = await readSysctl(key);
        if (value === undefined || value === before.sysctls[key]) continue;
        await writeFile(`/proc/sys/${key}`, `${before.sysctls[key]}\n`).catch((err: Error) =>
          say(`  could not put ${dotted(key)} back to ${before.sysctls[key]}: ${err.message}`),
        );
      }
      say(
        `  put back ${shown.map((key) => `${dotted(key)} = ${before.sysctls[key]}`).join(", ")} (dockerd had changed ${shown.length === 1 ? "it" : "them"})`,
      );
    }
  }

  // Children first, whatever order a record handed on lists them in.
  const made = RUN_DIRS.filter((dir) => before.absentRunDirs.includes(dir)).reverse();
  const present: string[] = [];
  for (const dir of made) if (await exists(dir)) present.push(dir);
  if (present.length > 0) {
    const engines = await otherEngines(["dockerd", "containerd"], "mnt", identity);
    if (engines.length > 0) {
      const handed = await handOn(engines, (r) => ({
        ...r,
        absentRunDirs: [...new Set([...r.absentRunDirs, ...present])],
      }));
      const then = handed
        ? "; local mode's other engine removes them when it stops"
        : ` and may use ${present.length === 1 ? "it" : "them"}`;
      say(`  left ${present.join(", ")}: another engine runs here (${engines.map((e) => e.label).join(", ")})${then}`);
    } else {
      for (const dir of present) {
        await rmdir(dir).catch((err: NodeJS.ErrnoException) =>
          say(
            `  left ${dir}, made by our dockerd: ${err.code === "ENOTEMPTY" ? "something else put files in it" : err.message}`,
          ),
        );
      }
    }
  }
  await rm(file, { force: true });
}
