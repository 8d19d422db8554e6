// CPU time of a process tree from /proc: a child's busy loop shows up in its parent's
// tree while it runs, and still counts once the parent has reaped it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { treeCpuMs } from "../../../bench/lib/cpu-time.ts";

test("a shell's tree counts the CPU of its busy child, running and reaped", async () => {
  // The shell runs a 300 ms busy loop in a child, then waits for a line before it exits.
  const shell = spawn("sh", ["-c", `python3 -c 'import time
end = time.process_time() + 0.3
while time.process_time() < end: pass'; echo done; read line`], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = once(shell, "exit");
  try {
    const before = await treeCpuMs(shell.pid!);
    await new Promise<void>((resolve) => shell.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("done") && resolve()));
    const after = await treeCpuMs(shell.pid!);
    assert.ok(after - before >= 250, `the reaped child's ${after - before} ms count in the shell's tree`);
    assert.ok(after - before < 5000);
  } finally {
    shell.stdin!.end("\n");
    await exited;
  }
});
