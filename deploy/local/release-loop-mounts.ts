// Unmounting loop-mounted images at stop when something may still use them (a shell whose
// working directory is inside a mailbox): a busy mount is named with who holds it, given
// a bounded time to be let go, then unmounted lazily. Its loop device is detached, or, while
// a holder still uses the filesystem, set to detach itself (autoclear) when the last one goes;
// the caller is told which device stays, and why, so it never claims a clean stop.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { blockDeviceNumber, describeHolders, deviceOf, holdersOf, type Holder } from "./mount-holders.ts";

const exec = promisify(execFile);
/** How long a busy mount's users get to let it go before it is unmounted lazily. */
export const BUSY_WAIT_MS = 10_000;
const POLL_MS = 250;

export interface LoopMount {
  /** Says which, e.g. "alice's mailbox". */
  readonly name: string;
  readonly target: string;
  /** The image file its loop device reads. */
  readonly image: string;
  /** Unmounts it (lazy: umount -l); rejects with the reason ("target is busy"). */
  readonly unmount: (lazy: boolean) => Promise<void>;
}

/** A loop device still attached after the release: its holders, or a mount, keep its filesystem alive. */
export interface StaysAttached {
  readonly device: string;
  readonly image: string;
  readonly holders: readonly Holder[];
  /** Where it is still mounted in this mount namespace (an unmount that failed). */
  readonly mountedAt: string | undefined;
  /** True when it detaches itself once the holders are gone (LO_FLAGS_AUTOCLEAR). */
  readonly autoclear: boolean;
}

export interface ReleaseOptions {
  /** A line on the terminal. */
  readonly say?: (line: string) => void;
  /** How long busy mounts are waited for (default BUSY_WAIT_MS). */
  readonly waitMs?: number;
  /** Aborted: stop waiting and unmount lazily now (a second Ctrl-C). */
  readonly hurry?: AbortSignal;
}

/** The loop device mounted at `target`, e.g. /dev/loop3, or undefined. */
async function loopAt(target: string): Promise<string | undefined> {
  const { stdout } = await exec("findmnt", ["-n", "-o", "SOURCE", "--mountpoint", target], { timeout: 10_000 }).catch(
    () => ({ stdout: "" }),
  );
  return stdout
    .split("\n")
    .map((s) => s.trim())
    .find((s) => /^\/dev\/loop\d+$/.test(s));
}

/** Whether `loop` is still attached to `image`. */
export async function attachedTo(loop: string, image: string): Promise<boolean> {
  const { stdout } = await exec("losetup", ["-n", "-O", "NAME", "-j", image], { timeout: 10_000 }).catch(() => ({
    stdout: "",
  }));
  return stdout.split("\n").some((line) => line.trim() === loop);
}

/** Whether `loop` lets go of `image` within `ms` (an autoclear detach may finish a moment after the unmount). */
async function detachedWithin(loop: string, image: string, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; ; await sleep(50)) {
    if (!(await attachedTo(loop, image))) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** Why `loop` (attached to `image`) is still attached: what holds it, where it is mounted, whether it detaches itself. */
async function stayingLoop(loop: string, image: string): Promise<StaysAttached> {
  const device = await blockDeviceNumber(loop).catch(() => undefined);
  const autoclear =
    (await readFile(`/sys/block/${basename(loop)}/loop/autoclear`, "utf8").catch(() => "0")).trim() === "1";
  const holders = device === undefined ? [] : await holdersOf(device, { mountNamespaces: true }).catch(() => []);
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const mountedAt =
    device === undefined
      ? undefined
      : mountinfo
          .split("\n")
          .find((line) => line.split(" ")[2] === device)
          ?.split(" ")[4];
  return { device: loop, image, holders, mountedAt, autoclear };
}

/** Detaches `loop`; one still in use is set to detach itself when freed. Answers what stays, or undefined. */
async function detach(mount: LoopMount, loop: string): Promise<StaysAttached | undefined> {
  if (await detachedWithin(loop, mount.image, 1_000)) return undefined;
  // On a loop device still open, LOOP_CLR_FD only sets autoclear: it detaches when freed.
  await exec("losetup", ["-d", loop], { timeout: 10_000 }).catch(() => undefined);
  if (await detachedWithin(loop, mount.image, 1_000)) return undefined;
  return stayingLoop(loop, mount.image);
}

const isBusy = (err: unknown) => /busy/i.test((err as Error).message);

/**
 * Unmounts every mount of `mounts` and detaches its loop device; answers the devices that
 * stay attached. A mount another failure keeps is left mounted; those failures are thrown
 * together once every other mount is released.
 */
export async function releaseLoopMounts(
  mounts: readonly LoopMount[],
  options: ReleaseOptions = {},
): Promise<StaysAttached[]> {
  const say = options.say ?? (() => undefined);
  const failures: string[] = [];
  const released: Array<{ mount: LoopMount; loop: string | undefined }> = [];
  const busy: Array<{ mount: LoopMount; loop: string | undefined; device: string }> = [];
  for (const mount of mounts) {
    const loop = await loopAt(mount.target);
    const device = await deviceOf(mount.target).catch(() => undefined);
    try {
      await mount.unmount(false);
      released.push({ mount, loop });
    } catch (err) {
      if (isBusy(err) && device !== undefined) busy.push({ mount, loop, device });
      else failures.push((err as Error).message);
    }
  }

  if (busy.length > 0) {
    const waitMs = options.waitMs ?? BUSY_WAIT_MS;
    for (const { mount, device } of busy) {
      const holders = await holdersOf(device, { mountNamespaces: true });
      say(
        `  ${mount.name} (${mount.target}) is in use: ${holders.length > 0 ? describeHolders(holders) : "no process holds it (a mount inside it?)"}`,
      );
    }
    say(
      `  waiting up to ${Math.round(waitMs / 1000)} s for ${busy.length === 1 ? "it" : "them"} to be let go (Ctrl-C again: stop waiting)`,
    );
    const deadline = Date.now() + waitMs;
    while (busy.length > 0 && Date.now() < deadline && !options.hurry?.aborted) {
      await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())), undefined, { signal: options.hurry }).catch(
        () => undefined,
      );
      for (const entry of [...busy]) {
        if ((await holdersOf(entry.device, { mountNamespaces: true })).length > 0) continue;
        if (
          !(await entry.mount.unmount(false).then(
            () => true,
            () => false,
          ))
        )
          continue;
        busy.splice(busy.indexOf(entry), 1);
        released.push(entry);
        say(`  ${entry.mount.name} was let go and is unmounted`);
      }
    }
    for (const entry of busy) {
      try {
        await entry.mount.unmount(true);
        released.push(entry);
        say(`  ${entry.mount.name} unmounted lazily: gone from ${entry.mount.target}, still open to what holds it`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  }

  const stays: StaysAttached[] = [];
  for (const { mount, loop } of released) {
    const left = loop === undefined ? undefined : await detach(mount, loop);
    if (left === undefined) continue;
    stays.push(left);
    say(`  ${stayText(left)}`);
  }
  if (failures.length > 0) throw new Error(failures.join("; "));
  return stays;
}

/** "/dev/loop3 (…/alice.img) stays attached, in use by pid 42 (bash): its working directory; it detaches itself when they let go". */
export function stayText(s: StaysAttached): string {
  if (s.mountedAt !== undefined)
    return `${s.device} (${s.image}) stays attached: it is still mounted at ${s.mountedAt}${s.holders.length > 0 ? `, in use by ${describeHolders(s.holders)}` : ""}`;
  const why = s.holders.length > 0 ? describeHolders(s.holders) : "no process found holding it";
  const then = s.autoclear
    ? "it detaches itself when they let go"
    : `detach it with \`losetup -d ${s.device}\` once they let go`;
  return `${s.device} (${s.image}) stays attached, in use by ${why}; ${then}`;
}

/** Every loop device attached now to an image file in `imageDir`, with why (the last check before a stop says it is done). */
export async function loopsOfImages(imageDir: string): Promise<StaysAttached[]> {
  const { stdout } = await exec("losetup", ["-l", "-n", "-O", "NAME,BACK-FILE"], { timeout: 10_000 }).catch(() => ({
    stdout: "",
  }));
  const found: StaysAttached[] = [];
  for (const line of stdout.split("\n")) {
    const [loop, image] = line.trim().split(/\s+/);
    if (loop && image?.startsWith(`${imageDir}/`)) found.push(await stayingLoop(loop, image));
  }
  return found;
}
