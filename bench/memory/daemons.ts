// SEMail's Node processes as production runs them: the bundle, each in its own process with
// the daemons image's node flags and environment (a variant may change both): the inbound
// and outbound daemons, and the web form.
import { spawn, type ChildProcess } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { accepting } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";
import type { Service, Stack } from "./stack.ts";

/** How node is started: its flags, its environment (beside PATH and HOME), the bundle. */
export interface Launch {
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly entry: string;
  /** The settings file the daemons read; default the stack's (Stack.checkedSettingsFile runs the arrival checks). */
  readonly settingsFile?: string;
}

export interface RunningDaemons {
  readonly services: readonly Service[];
  stop(): Promise<void>;
}

const COMMANDS = ["inbound", "outbound", "web"] as const;

async function startOne(stack: Stack, launch: Launch, command: (typeof COMMANDS)[number]): Promise<ChildProcess> {
  const log = await open(join(stack.dir, `${command}.log`), "a");
  const child = spawn(
    process.execPath,
    [...launch.nodeFlags, launch.entry, command, "--config", launch.settingsFile ?? stack.settingsFile],
    {
      stdio: ["ignore", log.fd, log.fd],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/root", ...launch.env },
    },
  );
  await log.close();
  const { port } = command === "web" ? stack.settings.web.listen : stack.settings[command].listen[0]!;
  await until(
    async () => {
      if (child.exitCode !== null) {
        // The run's directory goes when the bench ends: its log's last lines go with the error.
        const tail = (await readFile(join(stack.dir, `${command}.log`), "utf8").catch(() => "")).trim().split("\n");
        throw new Error(`semail ${command} exited (${child.exitCode}); its log ends:\n${tail.slice(-12).join("\n")}`);
      }
      return accepting(port);
    },
    `semail ${command} to listen on ${port}`,
    30_000,
    50,
  );
  return child;
}

async function stopOne(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function startDaemons(stack: Stack, launch: Launch): Promise<RunningDaemons> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children.splice(0).reverse()) await stopOne(child);
  };
  try {
    for (const command of COMMANDS) children.push(await startOne(stack, launch, command));
  } catch (err) {
    await stop();
    throw err;
  }
  const [inbound, outbound, web] = children;
  return {
    services: [
      { name: "inbound", daemon: true, pid: async () => inbound!.pid ?? 0 },
      { name: "outbound", daemon: true, pid: async () => outbound!.pid ?? 0 },
      { name: "web form", daemon: true, pid: async () => web!.pid ?? 0 },
    ],
    stop,
  };
}
