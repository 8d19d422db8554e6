// A server run in the foreground as our child (slapd, Dovecot, php -S): spawned, its
// stderr kept (the tail, for error messages) and logged, and stopped with SIGTERM, then
// SIGKILL if it lingers, waiting for the exit either way.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";

export interface ForegroundChild {
  readonly child: ChildProcess;
  /** The last few KiB it wrote to stderr. */
  output(): string;
  /** True once it has exited. */
  exited(): boolean;
  stop(): Promise<void>;
}

export interface ForegroundOptions {
  /** The log key its lines go under, e.g. "slapd". */
  readonly name: string;
  readonly logger: Logger;
  /** How long SIGTERM gets before SIGKILL. */
  readonly stopTimeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

function exit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => child.once("exit", () => ok()));
}

/** Spawns `program`; rejects, naming it, when it cannot be run at all. */
export async function startForeground(
  program: string,
  args: readonly string[],
  options: ForegroundOptions,
): Promise<ForegroundChild> {
  const child = spawn(program, args, {
    stdio: ["ignore", "ignore", "pipe"],
    ...(options.env ? { env: options.env } : {}),
  });
  let output = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    output = (output + text).slice(-8000);
    for (const line of text.split("\n"))
      if (line.trim()) options.logger.debug({ [options.name]: line.trim() }, options.name);
  });
  const failed = await new Promise<Error | undefined>((ok) => {
    child.once("spawn", () => ok(undefined));
    child.once("error", ok);
  });
  if (failed) throw new Error(`cannot run ${program}: ${failed.message}`, { cause: failed });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => output,
    exited,
    async stop() {
      if (exited()) return;
      const done = exit(child);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), options.stopTimeoutMs);
      await done;
      clearTimeout(timer);
    },
  };
}
