// Postfix's smtp-sink on loopback: accepts everything, counts messages ("mesg=N" with -c).
import { spawn, type ChildProcess } from "node:child_process";

export interface Sink {
  readonly port: number;
  /** Messages received so far. */
  count(): number;
  stop(): Promise<void>;
}

export async function startSink(port: number): Promise<Sink> {
  const child: ChildProcess = spawn("/usr/sbin/smtp-sink", ["-c", "-u", "nobody", `127.0.0.1:${port}`, "1000"], { stdio: ["ignore", "pipe", "pipe"] });
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
  // Bounded wait until it accepts connections.
  const { connect } = await import("node:net");
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: "127.0.0.1" }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) break;
    if (i > 100) {
      child.kill("SIGKILL");
      throw new Error(`smtp-sink did not start: ${errors}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The probe connection above counts as a session, not a message.
  return {
    port,
    count: () => count,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
