// `semail outbound` as a real child process (node bin/semail.mjs), for kill -9 and CLI tests.
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";

export const NODE = join(process.cwd(), "node_modules/.bin/node");
export const SEMAIL = join(process.cwd(), "bin/semail.mjs");

export interface ChildDaemon {
  readonly child: ChildProcess;
  /** Everything it printed (pino JSON lines), for failure messages. */
  output(): string;
  /** Resolves with the exit code or signal. */
  readonly exited: Promise<string>;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts the daemon with `--config file` and waits (bounded) until it accepts connections
 * on `port`. `node` replaces node's arguments before the command (default: the sources).
 */
export async function startChild(config: string, port: number, node: readonly string[] = [SEMAIL]): Promise<ChildDaemon> {
  const child = spawn(NODE, [...node, "outbound", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output = (output + d).slice(-20_000)));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output = (output + d).slice(-20_000)));
  const exited = new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? String(code))));
  let done = false;
  void exited.then(() => (done = true));
  for (let i = 0; i < 300; i++) {
    if (done) throw new Error(`semail outbound exited at start:\n${output}`);
    if (await accepting(port)) return { child, output: () => output, exited };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  throw new Error(`semail outbound did not listen on ${port} within 15 s:\n${output}`);
}
