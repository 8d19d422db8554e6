// Who keeps a filesystem busy, so a stop that cannot unmount it can say so: the processes
// whose working or root directory, open files or mapped files lie on it (what `fuser -m`
// reads), an open handle of its block device, and a mount namespace holding a mount of it.
import { readdir, readFile, readlink, stat } from "node:fs/promises";

/** A filesystem's device: st_dev of its files, "major:minor" as /proc shows it. */
export type DeviceNumber = string;

export interface Holder {
  readonly pid: number;
  /** Its command line (or its name, for a kernel thread). */
  readonly command: string;
  /** What it holds, e.g. "its working directory", "open file /x/INBOX". */
  readonly how: string;
}

/** st_dev (or st_rdev) as "major:minor", with glibc's split of the 64-bit number. */
function split(dev: bigint): DeviceNumber {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The device of the filesystem `path` lies on (the mounted one, for a mount point). */
export async function deviceOf(path: string): Promise<DeviceNumber> {
  return split((await stat(path, { bigint: true })).dev);
}

/** The device a block device node names, e.g. /dev/loop3 -> "7:3". */
export async function blockDeviceNumber(node: string): Promise<DeviceNumber> {
  return split((await stat(node, { bigint: true })).rdev);
}

/** Whether `path` lies on `device`, or is that block device's node. */
async function on(path: string, device: DeviceNumber): Promise<boolean> {
  const s = await stat(path, { bigint: true }).catch(() => undefined);
  if (s === undefined) return false;
  return split(s.dev) === device || (s.isBlockDevice() && split(s.rdev) === device);
}

async function commandOf(pid: string): Promise<string> {
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => ""))
    .split("\0")
    .filter((a) => a !== "")
    .join(" ");
  if (cmdline !== "") return cmdline.length > 80 ? `${cmdline.slice(0, 77)}...` : cmdline;
  return (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "?")).trim();
}

/** What process `pid` holds on `device`, or undefined (a process may end while it is read). */
async function holds(
  pid: string,
  device: DeviceNumber,
  [major, minor]: readonly [number, number],
): Promise<string | undefined> {
  if (await on(`/proc/${pid}/cwd`, device)) return "its working directory";
  if (await on(`/proc/${pid}/root`, device)) return "its root directory";
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    if (await on(`/proc/${pid}/fd/${fd}`, device))
      return `open file ${await readlink(`/proc/${pid}/fd/${fd}`).catch(() => `fd ${fd}`)}`;
  }
  // /proc/<pid>/maps names the device in hex: "07:03".
  const hex = `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}`;
  const mapped = (await readFile(`/proc/${pid}/maps`, "utf8").catch(() => ""))
    .split("\n")
    .find((line) => line.split(" ")[3] === hex);
  if (mapped !== undefined) return `mapped file ${mapped.split(/\s+/).slice(5).join(" ")}`;
  return undefined;
}

/**
 * Every process that holds `device` now; with `mountNamespaces`, also one process per
 * mount namespace other than ours that has it mounted (a container's bind mount).
 */
export async function holdersOf(
  device: DeviceNumber,
  options: { readonly mountNamespaces?: boolean } = {},
): Promise<Holder[]> {
  const numbers = device.split(":").map(Number) as [number, number];
  const pids = (await readdir("/proc")).filter((p) => /^\d+$/.test(p));
  // All at once: a machine has thousands of descriptors to look at, and the wait polls this.
  const held = await Promise.all(pids.map((pid) => holds(pid, device, numbers)));
  const found: Holder[] = [];
  for (const [i, how] of held.entries())
    if (how !== undefined) found.push({ pid: Number(pids[i]), command: await commandOf(pids[i]!), how });
  if (!options.mountNamespaces) return found;
  const seenNamespaces = new Set([await readlink("/proc/self/ns/mnt").catch(() => "")]);
  for (const [i, pid] of pids.entries()) {
    const namespace = await readlink(`/proc/${pid}/ns/mnt`).catch(() => "");
    if (namespace === "" || seenNamespaces.has(namespace)) continue;
    seenNamespaces.add(namespace);
    const mountinfo = await readFile(`/proc/${pid}/mountinfo`, "utf8").catch(() => "");
    const point = mountinfo
      .split("\n")
      .find((line) => line.split(" ")[2] === device)
      ?.split(" ")[4];
    if (point !== undefined && held[i] === undefined)
      found.push({
        pid: Number(pid),
        command: await commandOf(pid),
        how: `a mount of it at ${point} in its own mount namespace`,
      });
  }
  return found;
}

/** "pid 42 (bash): its working directory; pid 43 (less /x): open file /x/INBOX". */
export function describeHolders(holders: readonly Holder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command}): ${h.how}`).join("; ");
}
