// Small process helpers for benchmarks: a free loopback port, whether a port accepts
// connections, and the resident memory of a process tree from /proc.
import { readdir, readFile } from "node:fs/promises";
import { connect } from "node:net";

export { freeLoopbackPort as freePort } from "../../deploy/local/ports.ts";

/** Whether something accepts TCP connections on 127.0.0.1:port now. */
export function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function statusField(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Resident bytes of one process now. */
export const rss = (pid: number) => statusField(pid, "VmRSS");
/**
 * The lowest RSS of one process over `ms` after a load, sampled each second: its idle size
 * once V8 has shrunk its heap (it does so about 30 s after the last allocation burst).
 */
export async function settledRss(pid: number, ms = 40_000): Promise<number> {
  let lowest = await rss(pid);
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 1000));
    lowest = Math.min(lowest, await rss(pid));
  }
  return lowest;
}

/** Peak resident bytes of one process over its life. */
export const peakRss = (pid: number) => statusField(pid, "VmHWM");

async function rollup(pid: number, fields: readonly string[]): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
  let sum = 0;
  for (const field of fields) {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    if (match) sum += Number(match[1]) * 1024;
  }
  return sum;
}

/** Proportional set size: shared pages (the binary, libraries) divided among their users. */
export const pss = (pid: number) => rollup(pid, ["Pss"]);
/** Unique set size: the pages only this process holds. */
export const uss = (pid: number) => rollup(pid, ["Private_Clean", "Private_Dirty"]);

/** The pid and its descendants. */
export async function processTree(root: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!parents.has(ppid)) parents.set(ppid, []);
    parents.get(ppid)!.push(Number(name));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

/** Samples a process tree every `everyMs` until stopped; returns the peaks of its summed RSS and PSS. */
export function sampleTree(
  root: () => Promise<number>,
  everyMs = 100,
): { stop(): Promise<{ rss: number; pss: number }> } {
  const peak = { rss: 0, pss: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const pid = await root().catch(() => 0);
      if (pid > 0) {
        let sumRss = 0;
        let sumPss = 0;
        for (const p of await processTree(pid)) {
          sumRss += await rss(p);
          sumPss += await pss(p);
        }
        peak.rss = Math.max(peak.rss, sumRss);
        peak.pss = Math.max(peak.pss, sumPss);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}
