// How recovery tells a dead writer from a live one (writer-identity.ts): by pid, start
// time and boot, read from /proc; a zombie is dead. Real processes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { test, type TestContext } from "node:test";
import { bootId, processAlive, processStat } from "../../../../../lib/process-alive.ts";
import {
  newWriter,
  parseWriter,
  retireWriter,
  writerAlive,
} from "../../../../../mailservers/inbound/store/append/writer-identity.ts";

/** Runs a Python script that prints lines and waits for its stdin to close; resolves once it printed `ready`. */
async function python(t: TestContext, script: string): Promise<{ lines: string[]; stop(): Promise<void> }> {
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  const closed = once(child, "close");
  const stop = async () => {
    child.stdin.end();
    await closed;
  };
  t.after(stop);
  let out = "";
  child.stdout.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: string) => (out += chunk) && /^ready$/m.test(out) && resolve());
    child.on("close", () => reject(new Error(`python ended early: ${out}`)));
  });
  return { lines: out.split("\n"), stop };
}

test("a store of this process is alive until it closes; an earlier life with our pid, or an earlier boot, is not", (t) => {
  const { name, instance } = newWriter();
  t.after(() => retireWriter(instance));
  const writer = parseWriter(name)!;
  assert.equal(writer.pid, process.pid);
  assert.equal(writerAlive(writer), true);
  assert.equal(writerAlive({ ...writer, instance: "0123456789ab" }), false, "another store of this process, closed");
  assert.equal(
    writerAlive({ ...writer, startTime: String(Number(writer.startTime) - 1) }),
    false,
    "our pid, an earlier start",
  );
  assert.equal(writerAlive({ ...writer, boot: "0".repeat(32) }), false, "an earlier boot");
  retireWriter(instance);
  assert.equal(writerAlive(writer), false, "closed");
});

test("a command name with spaces and parentheses does not shift the fields of /proc/<pid>/stat", async (t) => {
  // Its start time is read while its name is still plain; then it names itself like the
  // middle of a zombie's stat line, so a parser that splits from the start reads state Z.
  const { lines } = await python(
    t,
    `
import os, sys
stat = open("/proc/self/stat").read()
print(os.getpid(), stat[stat.rindex(")") + 2:].split(" ")[19], flush=True)
open("/proc/self/comm", "w").write("x) Z 1 (y")
print("ready", flush=True)
sys.stdin.read()
`,
  );
  const [pid, startTime] = lines[0]!.split(" ") as [string, string];
  assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8"), "x) Z 1 (y\n");
  // Blocked on stdin it sleeps (S); a loaded machine may catch it still running (R). Never Z.
  const stat = processStat(Number(pid));
  assert.match(stat?.state ?? "", /^[SR]$/);
  assert.equal(stat?.startTime, startTime);
  const writer = { pid: Number(pid), startTime, boot: bootId(), instance: "0123456789ab" };
  assert.equal(writerAlive(writer), true);
  assert.equal(
    writerAlive({ ...writer, startTime: String(Number(startTime) + 1) }),
    false,
    "the same pid with another start time: reused",
  );
});

test("a zombie is dead, though kill(pid, 0) still finds it", async (t) => {
  const { lines, stop } = await python(
    t,
    `
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
stat = ""
while not stat.endswith("Z"):
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    time.sleep(0.01)
print(pid, open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19], flush=True)
print("ready", flush=True)
sys.stdin.read()
os.waitpid(pid, 0)
`,
  );
  const [pid, startTime] = lines[0]!.split(" ") as [string, string];
  assert.equal(processStat(Number(pid))?.state, "Z");
  assert.ok(processAlive(Number(pid)));
  assert.equal(writerAlive({ pid: Number(pid), startTime, boot: bootId(), instance: "0123456789ab" }), false);
  await stop();
  assert.notEqual(processStat(Number(pid))?.startTime, startTime, "reaped: gone, or its pid taken by another process");
});
