// Whether a pid names a running process, for files named after the process that made them.
import { readFileSync } from "node:fs";

/**
 * True if `pid` exists, also when it belongs to another user (EPERM). A zombie exists
 * too, and a pid can name a later process: where that matters, see `processStat`.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** What /proc/<pid>/stat tells apart: the state letter (Z zombie, X dead) and the start time. */
export interface ProcessStat {
  readonly state: string;
  /** Field 22: clock ticks from boot to the process's start. A later process with the same pid has another. */
  readonly startTime: string;
}

/**
 * Parses a /proc/<pid>/stat line. Field 2 is the command name in parentheses, which may
 * itself hold spaces and parentheses (a process can name itself "a) Z 1 (b"), so the
 * fields are counted from the last ")", never split from the start.
 */
export function parseProcStat(text: string): ProcessStat | undefined {
  const close = text.lastIndexOf(")");
  if (close === -1) return undefined;
  // Field 3 (state) first, so field 22 is at index 19.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(" ");
  const state = fields[0];
  const startTime = fields[19];
  if (!state || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

/** /proc/<pid>/stat of `pid`, or undefined if there is no such process (Linux). */
export function processStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch (error) {
    // ESRCH: it exited between the open and the read.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw error;
  }
  return parseProcStat(text);
}

let boot: string | undefined;

/** This boot of the machine (32 hex digits): pids and start times count again from each boot. */
export function bootId(): string {
  boot ??= readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim().replace(/-/g, "");
  return boot;
}

/** True while `pid` runs: it exists and is neither a zombie nor dead (Z, X). */
export function processRunning(pid: number): boolean {
  const stat = processAlive(pid) ? processStat(pid) : undefined;
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}
