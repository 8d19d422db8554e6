// Ctrl-C on `semail start` while a shell sits inside a mailbox's mount (issue 20, finding 6):
// the stop names the process that holds it, waits a bounded time, unmounts it lazily, and
// says which loop device stays and why instead of a bare "SEMail is stopped"; the device
// detaches itself once the holder exits, leaving nothing of ours in `losetup -a`.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { until } from "../../testkit/until.ts";
import { startLocal, writeLocalSettings } from "./local-process.ts";
import { needsLoopDevices } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const skip = needsLoopDevices;

const loopsUnder = async (dir: string) =>
  (await run("losetup", ["-a"])).stdout.split("\n").filter((line) => line.includes(dir));

test("Ctrl-C with a shell inside a mailbox: the holder is named, the device that stays is said, and it detaches once the shell exits", {
  skip,
  timeout: 5 * 60_000,
}, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "semail-busy-stop-"));
  const mailbox = join(dataDir, "mail", "alice");
  let local: Awaited<ReturnType<typeof startLocal>> | undefined;
  const shell = { pid: 0, kill: () => undefined as unknown };
  t.after(async () => {
    shell.kill();
    await local?.kill();
    await run("umount", ["-l", mailbox]).catch(() => undefined);
    for (const line of await loopsUnder(dataDir))
      await run("losetup", ["-d", line.split(":")[0]!]).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  await writeLocalSettings(dataDir);
  await writeFile(join(dataDir, "users.yaml"), "mailboxes:\n  - {owner: alice, address: alice@alice.semail.test}\n");
  local = await startLocal(dataDir);
  assert.match(
    await readFile("/proc/self/mountinfo", "utf8"),
    new RegExp(` ${mailbox} `),
    "alice's mailbox is mounted",
  );

  // A user's shell, parked in the mailbox.
  const child = spawn("sleep", ["600"], { cwd: mailbox, stdio: "ignore" });
  await new Promise((ok, fail) => child.once("spawn", ok).once("error", fail));
  const gone = new Promise((ok) => child.once("exit", ok));
  Object.assign(shell, { pid: child.pid!, kill: () => child.kill("SIGKILL") });

  assert.equal(await local.interrupt(), 0);
  const output = local.output();
  assert.match(
    output,
    new RegExp(`alice's mailbox \\(${mailbox}\\) is in use: pid ${child.pid} \\(sleep 600\\): its working directory`),
  );
  assert.match(output, /waiting up to 10 s for it to be let go/);
  assert.match(output, /alice's mailbox unmounted lazily/);
  const stays = `(/dev/loop\\d+) \\(${join(dataDir, "images", "alice.img")}\\) stays attached, in use by pid ${child.pid} \\(sleep 600\\): its working directory; it detaches itself when they let go`;
  assert.match(output, new RegExp(`\n  ${stays}\n`), "said as the stop releases it");
  assert.match(
    output,
    new RegExp(`\nSEMail is stopped, except: ${stays}\\. Its data stays in ${dataDir} for the next start\\.\n$`),
    "the last line does not hide it",
  );
  assert.doesNotMatch(
    await readFile("/proc/self/mountinfo", "utf8"),
    new RegExp(` ${mailbox} `),
    "gone from the mount tree",
  );

  child.kill("SIGTERM");
  await gone;
  await until(
    async () => (await loopsUnder(dataDir)).length === 0,
    "the loop device to detach itself once the shell exited",
  );
});
