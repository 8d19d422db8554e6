// Postfix's smtp-sink on loopback: accepts everything, counts messages ("mesg=N" with -c).
import { spawn, type ChildProcess } from "node:child_process";
import { accepting } from "../lib/process.ts";
import { until } from "../../testkit/until.ts";

export interface Sink {
  readonly port: number;
  /** Messages received so far. */
  count(): number;
  stop(): Promise<void>;
}

export async function startSink(port: number): Promise<Sink> {
  const child: ChildProcess = spawn("/usr/sbin/smtp-sink", ["-c", "-u", "nobody", `127.0.0.1:${port}`, "1000"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let count = 0;
  let tail = "";
  let errors = "";
  child.stdout!.setEncoding("latin1").on("data", (d: string) => {
    tail = (tail + d).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    if (all.length) count = Number(all.at(-1)![1]);
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (errors += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // The probe connections count as sessions, not messages.
  await until(() => accepting(port), "smtp-sink to listen", 5_000, 50).catch((err: unknown) => {
    child.kill("SIGKILL");
    throw new Error(`smtp-sink did not start: ${errors || (err as Error).message}`);
  });
  return {
    port,
    count: () => count,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
