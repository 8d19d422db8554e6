// Who holds a filesystem, read from /proc as `fuser -m` does: a working directory, an open
// file, a mapped file, each with its pid and command. A tmpfs of the test's own keeps every
// other process of the machine out of the answer. Needs root (mount).
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { describeHolders, deviceOf, holdersOf } from "../../../deploy/local/mount-holders.ts";
import { until } from "../../../testkit/until.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const skip = needsRoot;

test("holders of a filesystem: working directory, open file and mapped file, each named with pid and command", {
  skip,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-holders-"));
  await run("mount", ["-t", "tmpfs", "-o", "size=4m", "semail-test", dir]);
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await until(() => children.every((c) => c.exitCode !== null || c.signalCode !== null), "the holders to exit");
    await run("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  });
  await writeFile(join(dir, "INBOX"), "From a\n\nmail\n");
  const device = await deviceOf(dir);
  assert.deepEqual(await holdersOf(device), [], "nobody yet");

  const start = (command: string[], cwd = "/") => {
    const child = spawn(command[0]!, command.slice(1), { cwd, stdio: "ignore" });
    children.push(child);
    return child;
  };
  const inside = start(["sleep", "300"], dir);
  const reader = start(["sh", "-c", `exec 3<${join(dir, "INBOX")}; exec sleep 301`]);
  // A program run from there: its executable is mapped, with no descriptor open.
  await run("cp", ["/bin/sleep", join(dir, "sleep")]);
  const mapper = start([join(dir, "sleep"), "302"]);
  await until(
    async () =>
      (await holdersOf(device)).length === 3 &&
      (await readFile(`/proc/${reader.pid}/cmdline`, "utf8")).startsWith("sleep"),
    "the three holders",
  );

  const holders = await holdersOf(device);
  const by = (pid: number | undefined) => holders.find((h) => h.pid === pid);
  assert.deepEqual(by(inside.pid), { pid: inside.pid, command: "sleep 300", how: "its working directory" });
  assert.deepEqual(by(reader.pid), { pid: reader.pid, command: "sleep 301", how: `open file ${join(dir, "INBOX")}` });
  assert.deepEqual(by(mapper.pid), {
    pid: mapper.pid,
    command: `${join(dir, "sleep")} 302`,
    how: `mapped file ${join(dir, "sleep")}`,
  });
  assert.match(
    describeHolders([by(inside.pid)!, by(reader.pid)!]),
    new RegExp(
      `^pid ${inside.pid} \\(sleep 300\\): its working directory; pid ${reader.pid} \\(sleep 301\\): open file `,
    ),
  );
});
