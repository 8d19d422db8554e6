// CPU time spent by a process tree, from /proc: each live process's own user and system
// time, plus what its exited children spent (cutime, cstime, counted once they are reaped),
// so the processes Postfix's master starts and reaps between two readings are counted too.
import { readFile } from "node:fs/promises";
import { processTree } from "../lib/process.ts";

/** Clock ticks per second of /proc's times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

async function times(pid: number): Promise<{ own: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // Fields after the command name, which may hold spaces: state is field 3, utime 14 ... cstime 17.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const field = (n: number) => Number(fields[n - 3] ?? 0);
  return { own: field(14) + field(15), children: field(16) + field(17) };
}

/** CPU seconds used so far by `root` and its descendants, reaped ones included. */
export async function treeCpuSeconds(root: number): Promise<number> {
  let ticks = 0;
  for (const pid of await processTree(root)) {
    const t = await times(pid);
    ticks += t.own + t.children;
  }
  return ticks / TICKS_PER_SECOND;
}
