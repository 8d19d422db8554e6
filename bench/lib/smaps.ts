// Memory of processes as the kernel accounts it, from one read of /proc/<pid>/smaps_rollup
// each: RSS, PSS (shared pages divided among the processes that map them, so PSS sums to
// what a machine spends) and USS (pages only this process holds: private clean + dirty).
import { readFile } from "node:fs/promises";
import { processTree } from "./process.ts";

export interface Memory {
  readonly rss: number;
  readonly pss: number;
  readonly uss: number;
}

export const NO_MEMORY: Memory = { rss: 0, pss: 0, uss: 0 };

function field(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** One process's memory now, in bytes; zero for a process that is gone. */
export async function processMemory(pid: number): Promise<Memory> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
  return {
    rss: field(text, "Rss"),
    pss: field(text, "Pss"),
    uss: field(text, "Private_Clean") + field(text, "Private_Dirty"),
  };
}

export function addMemory(a: Memory, b: Memory): Memory {
  return { rss: a.rss + b.rss, pss: a.pss + b.pss, uss: a.uss + b.uss };
}

export function maxMemory(a: Memory, b: Memory): Memory {
  return { rss: Math.max(a.rss, b.rss), pss: Math.max(a.pss, b.pss), uss: Math.max(a.uss, b.uss) };
}

/** A process and its descendants (Dovecot's and PHP's workers), summed; `processes` counts the live ones. */
export async function treeMemory(root: number): Promise<Memory & { readonly processes: number }> {
  let sum = NO_MEMORY;
  let processes = 0;
  for (const pid of root > 0 ? await processTree(root) : []) {
    const memory = await processMemory(pid);
    if (memory.rss === 0) continue;
    sum = addMemory(sum, memory);
    processes++;
  }
  return { ...sum, processes };
}
