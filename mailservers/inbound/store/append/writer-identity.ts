// Who wrote a crash marker or a temp body under <mailRoot>/.tmp/, named so that recovery
// can tell for certain whether that writer still runs. A pid alone cannot: the pid of a
// daemon killed with -9 still exists while its parent has not reaped it (a zombie), or
// names an unrelated process once reused, and the dead daemon's markers would then be
// taken for live ones and never recovered (its lock kept, mail to that mailbox 451).
//
// A writer is named `<pid>-<start time>-<boot id>-<instance>`:
//   - the start time (field 22 of /proc/<pid>/stat) differs for a later process that got the pid;
//   - the boot id, because pids and start times both count again from each boot;
//   - a random instance, because stores in one process (a restart in place, tests) share the rest.
// It is alive only if /proc/<pid>/stat shows that start time in a state other than Z
// (zombie) or X: a zombie has exited, its descriptors are closed and it will never write
// again; only its exit status waits for its parent.
import { randomBytes } from "node:crypto";
import { bootId, processAlive, processStat } from "../../../../lib/process-alive.ts";

export interface Writer {
  readonly pid: number;
  /** Undefined in a name written before start times were recorded (`<pid>-<instance>`). */
  readonly startTime: string | undefined;
  readonly boot: string | undefined;
  readonly instance: string;
}

/**
 * Store instances alive in this process. Process-wide on purpose: a second store on the
 * same mail root (a restart inside one process, tests) must not take a live batch's
 * marker for a crashed one, although both carry the same pid and start time.
 */
const liveInstances = new Set<string>();

let ownStart: string | undefined;

/** A new store instance of this process, alive until `retireWriter`; returns its name. */
export function newWriter(): { name: string; instance: string } {
  const instance = randomBytes(6).toString("hex");
  ownStart ??= processStat(process.pid)?.startTime;
  if (ownStart === undefined)
    throw new Error("cannot read /proc/self/stat: the mbox store needs Linux /proc to name its crash markers");
  liveInstances.add(instance);
  return { name: `${process.pid}-${ownStart}-${bootId()}-${instance}`, instance };
}

export function retireWriter(instance: string): void {
  liveInstances.delete(instance);
}

/** The writer a name stands for, or undefined if it is not a writer's name. */
export function parseWriter(name: string): Writer | undefined {
  const match = /^(\d+)-(\d+)-([0-9a-f]{32})-([0-9a-f]{12})$/.exec(name);
  if (match) return { pid: Number(match[1]), startTime: match[2]!, boot: match[3]!, instance: match[4]! };
  const legacy = /^(\d+)-([0-9a-f]{12})$/.exec(name);
  if (legacy) return { pid: Number(legacy[1]), startTime: undefined, boot: undefined, instance: legacy[2]! };
  return undefined;
}

/** Whether `writer` may still write: true unless it is dead for certain. */
export function writerAlive(writer: Writer): boolean {
  // An older version named its files by pid alone: the old rule, kill(pid, 0).
  if (writer.startTime === undefined) return writer.pid !== process.pid && processAlive(writer.pid);
  if (writer.boot !== bootId()) return false;
  let stat;
  try {
    stat = processStat(writer.pid);
  } catch {
    // /proc unreadable: cannot tell, so leave it (a live store's files are never touched).
    return true;
  }
  if (!stat || stat.state === "Z" || stat.state === "X" || stat.startTime !== writer.startTime) return false;
  // This very process: the instance tells a live store from an earlier one.
  if (writer.pid === process.pid) return liveInstances.has(writer.instance);
  return true;
}

/**
 * What `writer`'s lock files (dotlock.ts `lockTempPrefix`) are named by: its instance,
 * short enough beside a 200-byte folder name. Pid for the older names.
 */
export function lockTag(writer: Writer): string {
  return writer.startTime === undefined ? String(writer.pid) : writer.instance;
}
