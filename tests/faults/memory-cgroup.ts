// A cgroup v1 memory controller child (/sys/fs/cgroup/memory/semail-faults-<pid>) with a
// limit, standing in for the design's 256 MiB VM. This kernel refuses
// memory.move_charge_at_immigrate, so a process is charged only for what it allocates after
// joining: spawn through `command()`, which joins before exec, to charge a process whole.
import { existsSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { until } from "../../testkit/until.ts";

const ROOT = "/sys/fs/cgroup/memory";

export interface CgroupMemory {
  /** Everything charged: the processes' memory and the page cache of the files they wrote (mboxes, spool). */
  readonly usage: number;
  readonly maxUsage: number;
  /** The processes' anonymous memory (memory.stat rss): what the kernel cannot reclaim without swap. */
  readonly anon: number;
  /** Page cache (memory.stat cache), which the kernel reclaims at the limit. */
  readonly cache: number;
  /** Times usage hit the limit (page cache reclaim counts too: not by itself a failure). */
  readonly failcnt: number;
  /** Processes the kernel's OOM killer killed in this cgroup. */
  readonly oomKills: number;
  readonly underOom: boolean;
}

export class MemoryCgroup {
  readonly path: string;

  private constructor(dir: string) {
    this.path = dir;
  }

  /** undefined where there is no v1 memory controller or it cannot be written (not root). */
  static async create(name: string, limitBytes: number): Promise<MemoryCgroup | undefined> {
    if (!existsSync(path.join(ROOT, "memory.limit_in_bytes"))) return undefined;
    const dir = path.join(ROOT, name);
    try {
      await mkdir(dir);
      await writeFile(path.join(dir, "memory.limit_in_bytes"), String(limitBytes));
      // With swap accounting, the same limit on memory + swap: no escape into swap.
      const memsw = path.join(dir, "memory.memsw.limit_in_bytes");
      if (existsSync(memsw)) await writeFile(memsw, String(limitBytes));
    } catch {
      await rmdir(dir).catch(() => undefined);
      return undefined;
    }
    return new MemoryCgroup(dir);
  }

  /** `argv` run so that it joins this cgroup first: everything it allocates is charged here. */
  command(argv: readonly string[]): [string, string[]] {
    return ["/bin/sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, ...argv]];
  }

  /** Moves a running process in (charged from now on). */
  async join(pid: number): Promise<void> {
    await writeFile(path.join(this.path, "cgroup.procs"), String(pid));
  }

  async pids(): Promise<number[]> {
    const text = await readFile(path.join(this.path, "cgroup.procs"), "utf8");
    return text.split("\n").filter(Boolean).map(Number);
  }

  async memory(): Promise<CgroupMemory> {
    const read = (file: string) => readFile(path.join(this.path, file), "utf8");
    const oom = await read("memory.oom_control");
    const stat = await read("memory.stat");
    const field = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return {
      usage: Number(await read("memory.usage_in_bytes")),
      maxUsage: Number(await read("memory.max_usage_in_bytes")),
      anon: field(stat, "rss"),
      cache: field(stat, "cache"),
      failcnt: Number(await read("memory.failcnt")),
      oomKills: field(oom, "oom_kill"),
      underOom: field(oom, "under_oom") === 1,
    };
  }

  /** Moves what is still inside back to the top (the row's own cleanups stop it) and removes the cgroup. */
  async remove(): Promise<void> {
    if (!existsSync(this.path)) return;
    for (const pid of await this.pids())
      await writeFile(path.join(ROOT, "cgroup.procs"), String(pid)).catch(() => undefined);
    await until(async () => (await this.pids()).length === 0, `${this.path} to be empty`, 10_000);
    await rmdir(this.path);
  }
}
