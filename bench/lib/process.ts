// Small process helpers for benchmarks: a free loopback port, bounded polling, and the
// resident memory of a process tree from /proc.
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";

/** A port that was free a moment ago on 127.0.0.1 (for programs that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Polls `check` every `everyMs` until true; throws after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms: number, everyMs = 20): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

async function statusField(pid: number, field: string): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Resident bytes of one process now. */
export const rss = (pid: number) => statusField(pid, "VmRSS");
/** Peak resident bytes of one process over its life. */
export const peakRss = (pid: number) => statusField(pid, "VmHWM");

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

/** Samples the summed RSS of a process tree every `everyMs` until stopped; returns the peak. */
export function sampleTreeRss(root: () => Promise<number>, everyMs = 100): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const pid = await root().catch(() => 0);
      if (pid > 0) {
        let sum = 0;
        for (const p of await processTree(pid)) sum += await rss(p);
        peak = Math.max(peak, sum);
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
