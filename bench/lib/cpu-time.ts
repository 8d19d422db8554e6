// CPU time a process tree has spent, from /proc: what a server costs per message, a
// figure that holds still when other work shares the machine (its rate does not).
import { readFile } from "node:fs/promises";
import { processTree } from "./process.ts";

const TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 in Linux's user ABI

/** utime + stime of `pid` (all its threads), and cutime + cstime: the children it has reaped. */
async function times(pid: number): Promise<{ own: number; reaped: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (stat === "") return { own: 0, reaped: 0 };
  // Fields after the command name, which may hold spaces: state is field 3, utime 14.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return { own: fields[11]! + fields[12]!, reaped: fields[13]! + fields[14]! };
}

/**
 * CPU milliseconds spent so far by `root` and its descendants, counting children that have
 * exited and been reaped within the tree (Postfix's master reaps its smtpd and its
 * delivery agents, which come and go under load).
 */
export async function treeCpuMs(root: number): Promise<number> {
  let ticks = 0;
  for (const pid of await processTree(root)) {
    const { own, reaped } = await times(pid);
    ticks += own + reaped;
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
