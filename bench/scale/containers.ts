// Local mode's users' containers in bench/scale (deploy/local/containers.ts): what
// one sync asks of the Docker engine when one mailbox is added to a list of n. A thousand
// real containers do not fit this machine, so the engine is a stand-in that keeps its
// containers in a table and answers the docker commands `sync` issues at once (ps, inspect,
// run, start, rm, exec). The figures are the commands each sync issues, counted by kind, and
// the time sync spends in this process; on a real engine each command is a docker CLI
// process and an API call (tens of ms), and each health exec waits for the container.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { parseUsersList, type UsersList } from "../../config/users-list.ts";
import { silentLogger } from "../../lib/logger.ts";
import { createLocalContainers } from "../../deploy/local/containers.ts";
import type { Docker } from "../../deploy/local/docker-engine.ts";
import { BENCH_LIST_OPTIONS, syntheticUsersYaml } from "../lib/users-lists.ts";

export interface SyncSample {
  /** Milliseconds of each sync that added one mailbox. */
  readonly addMs: readonly number[];
  /** Docker commands of each of those syncs, and of the first (from nothing to n). */
  readonly addCommands: readonly number[];
  readonly firstCommands: number;
  /** The commands of the last added mailbox's sync by kind ("inspect", "exec", ...). */
  readonly byKind: Readonly<Record<string, number>>;
}

interface Container {
  readonly labels: Map<string, string>;
  readonly ip: string;
  running: boolean;
}

const NETWORK = "semail-bench-users";

/** The engine's side of the docker commands createLocalContainers issues, answered from a table. */
function standInEngine(): Docker & { readonly calls: string[][] } {
  const containers = new Map<string, Container>();
  const calls: string[][] = [];
  let next = 0;
  const flag = (args: readonly string[], name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]!] : []));
  const render = (format: string, name: string, c: Container) =>
    format
      .replaceAll("{{.Names}}", name)
      .replaceAll("{{.State}}", c.running ? "running" : "exited")
      .replace(/\{\{\.Label "([^"]+)"\}\}/g, (_, key: string) => c.labels.get(key) ?? "");
  const run: Docker["run"] = async (args) => {
    calls.push([...args]);
    const [command] = args;
    const last = args.at(-1)!;
    switch (command) {
      case "ps": {
        const [filter] = flag(args, "--filter");
        const [key, value] = filter!.replace(/^label=/, "").split("=");
        const format = args.includes("-q") ? "{{.Names}}" : flag(args, "--format")[0]!;
        const rows = [...containers].filter(
          ([, c]) => c.labels.get(key!) === value && (args.includes("-a") || c.running),
        );
        return rows.map(([name, c]) => `${render(format, name, c)}\n`).join("");
      }
      case "inspect": {
        const c = containers.get(last);
        if (!c) throw new Error(`docker inspect: no such container ${last}`);
        return JSON.stringify([
          {
            State: { Running: c.running, Restarting: false, Status: c.running ? "running" : "exited" },
            Config: { Labels: Object.fromEntries(c.labels) },
            NetworkSettings: { Networks: { [NETWORK]: { IPAddress: c.ip } } },
          },
        ]);
      }
      case "run": {
        const labels = new Map(
          flag(args, "--label").map(
            (l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string],
          ),
        );
        next++;
        containers.set(flag(args, "--name")[0]!, {
          labels,
          ip: `10.216.${Math.floor(next / 250)}.${(next % 250) + 2}`,
          running: true,
        });
        return "";
      }
      case "start":
        containers.get(last)!.running = true;
        return "";
      case "rm":
        containers.delete(last);
        return "";
      case "exec":
        return "";
      default:
        throw new Error(`the bench's stand-in engine does not answer docker ${command}`);
    }
  };
  return {
    host: "unix:///nonexistent/bench.sock",
    own: false,
    run,
    stream: async () => undefined,
    stop: async () => undefined,
    calls,
  };
}

const list = (count: number): UsersList => parseUsersList(syntheticUsersYaml(count), BENCH_LIST_OPTIONS);

export async function measureContainerSync(dir: string, count: number, adds: number): Promise<SyncSample> {
  const runDir = join(dir, `containers-${count}`);
  await mkdir(runDir, { recursive: true });
  const docker = standInEngine();
  const containers = createLocalContainers({
    docker,
    id: "bench0000",
    dir: runDir,
    mailRoot: join(runDir, "mail"),
    logger: silentLogger(),
    images: {
      user: "semail-local/user:bench",
      jump: "semail-local/jump:bench",
      aptProxy: "semail-local/apt-proxy:bench",
    },
    network: {
      name: NETWORK,
      bridge: "semail-ubench0",
      subnet: "10.216.0.0/16",
      gateway: "10.216.0.1",
      jumpIp: "10.216.0.2",
      jumpNetwork: "semail-bench-jump",
      aptIp: "10.216.0.3",
      aptNetwork: "semail-bench-apt",
      aptBridge: "semail-abench0",
      aptSubnet: "10.217.0.0/24",
    },
    submission: "10.216.0.1:2587",
    aptProxy: "http://10.216.0.3:3142",
    jumpPort: 2222,
  });
  await containers.sync(list(count));
  const firstCommands = docker.calls.length;
  const addMs: number[] = [];
  const addCommands: number[] = [];
  let last: string[][] = [];
  for (let i = 1; i <= adds; i++) {
    const next = list(count + i);
    docker.calls.length = 0;
    const started = performance.now();
    await containers.sync(next);
    addMs.push(performance.now() - started);
    addCommands.push(docker.calls.length);
    last = [...docker.calls];
  }
  const byKind: Record<string, number> = {};
  for (const call of last) byKind[call[0]!] = (byKind[call[0]!] ?? 0) + 1;
  return { addMs, addCommands, firstCommands, byKind };
}
