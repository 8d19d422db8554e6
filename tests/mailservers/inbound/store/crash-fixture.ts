// Fixtures for the kill -9 tests: a store process killed at a crash point (crash-child.ts),
// reaped at once or left a zombie, and the lock files it may leave behind.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { TestContext } from "node:test";
import type { CrashPoint } from "../../../../mailservers/inbound/store/index.ts";

const CHILD = path.join(import.meta.dirname, "crash-child.ts");

/** Subjects of the deliveries that resolved (the SMTP 250) before the kill. */
function acknowledgedIn(out: string): Set<string> {
  return new Set([...out.matchAll(/^ok (\d+)$/gm)].map((m) => `crash ${m[1]}`));
}

function collect(child: ChildProcess): () => string {
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => (out += chunk));
  return () => out;
}

/** Runs crash-child.ts to its kill at the `nth` `point`, and reaps it. */
export async function runChild(
  root: string,
  point: CrashPoint,
  nth: number,
  count: number,
): Promise<{ pid: number; signal: string | null; acknowledged: Set<string> }> {
  const child = spawn(process.execPath, [CHILD, root, point, String(nth), String(count)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = collect(child);
  const signal = await new Promise<string | null>((resolve) => child.on("close", (_code, sig) => resolve(sig)));
  return { pid: child.pid!, signal, acknowledged: acknowledgedIn(out()) };
}

/**
 * Runs crash-child.ts under a parent (Python) that does not reap it: once killed it stays
 * a zombie, its pid still taken, until `reap()`, which resolves with the signal it died of.
 */
export async function runUnreapedChild(
  t: TestContext,
  root: string,
  point: CrashPoint,
  nth: number,
  count: number,
): Promise<{ pid: number; acknowledged: Set<string>; reap(): Promise<string> }> {
  const script = `
import os, signal, sys, time
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
# Said once the child is a zombie: its own output is all in the pipe before this line.
while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.01)
print("zombie", pid, flush=True)
sys.stdin.read()
_, status = os.waitpid(pid, 0)
print("reaped", signal.Signals(os.WTERMSIG(status)).name if os.WIFSIGNALED(status) else "exit", flush=True)
`;
  const parent = spawn("python3", ["-c", script, process.execPath, CHILD, root, point, String(nth), String(count)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(parent, "close");
  t.after(async () => {
    if (parent.exitCode === null && parent.signalCode === null) {
      parent.stdin!.end();
      await exited;
    }
  });
  const out = collect(parent);
  const started = new Promise<void>((resolve, reject) => {
    parent.stdout!.on("data", () => /^zombie \d+$/m.test(out()) && resolve());
    parent.on("close", () => reject(new Error(`the crash child's parent ended early: ${out()}`)));
  });
  await started;
  const pid = Number(/^zombie (\d+)$/m.exec(out())![1]);
  return {
    pid,
    acknowledged: acknowledgedIn(out()),
    async reap() {
      parent.stdin!.end();
      await exited;
      return /^reaped (\w+)$/m.exec(out())?.[1] ?? "";
    },
  };
}

/** Lock files and our hidden link/stale files (`.INBOX.lock.<tag>.*`) anywhere under the mail root. */
export async function lockLeftovers(root: string): Promise<string[]> {
  const names = (await readdir(root, { recursive: true })).map(String).filter((name) => !name.startsWith(".tmp"));
  return names.filter((name) => name.endsWith(".lock") || /(^|\/)\.[^/]*\.lock\./.test(name));
}
