// Follows one log: runs the source's command (tail -F, journalctl -f, docker logs -f) and hands
// on each line of its output. A command that ends (a container restarted, journald rotated)
// is started again after a pause, until stop().
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "pino";

export interface LogFollower {
  stop(): Promise<void>;
}

const RESTART_PAUSE_MS = 2_000;

export function followLog(command: readonly string[], onLine: (line: string) => void, logger: Logger): LogFollower {
  let child: ChildProcess | undefined;
  let stopped = false;
  let pause: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = (): void => {
    const [program, ...args] = command;
    const running = spawn(program!, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = running;
    exited = new Promise((resolve) => running.once("close", () => resolve()));
    createInterface({ input: running.stdout! }).on("line", onLine);
    createInterface({ input: running.stderr! }).on("line", (line) =>
      logger.warn({ command: program, stderr: line.slice(0, 500) }, "log source says"),
    );
    running.once("error", (err) => logger.error({ command: program, err: err.message }, "log source failed to start"));
    running.once("close", (code, signal) => {
      if (stopped) return;
      logger.warn({ command: program, code, signal }, "log source ended; starting it again");
      pause = setTimeout(start, RESTART_PAUSE_MS);
    });
  };
  start();

  return {
    async stop() {
      stopped = true;
      clearTimeout(pause);
      child?.kill("SIGTERM");
      await exited;
    },
  };
}
