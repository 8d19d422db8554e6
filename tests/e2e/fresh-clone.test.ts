// The README's first command as a newcomer meets it: a fresh clone of the committed tree, in a
// directory closed to others (mkdtemp makes it 0700, as /root is), `npm run setup && npm start`,
// the banner, the form, Ctrl-C, and nothing left behind. It uses the default ports and its
// own dockerd (data in the clone), as a newcomer's start does; the first start builds images.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFile, readdir, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../testkit/repo-path.ts";
import { until } from "../../testkit/until.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);

/** Pids whose command line or working directory names `path`. */
async function processesIn(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replaceAll("\0", " ");
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => "");
    if (cmdline.includes(path) || cwd.startsWith(path)) found.push(`${pid}: ${cmdline.trim()}`);
  }
  return found;
}

test("a fresh clone under a closed directory: npm run setup && npm start shows the banner and the form, Ctrl-C leaves nothing", {
  skip: needsRoot,
  timeout: 40 * 60_000,
}, async (t) => {
  const home = await tempDir(t, "semail-newcomer-");
  const clone = join(home, "semail");
  await run("git", ["clone", "-q", REPO_ROOT, clone]);
  await run("npm", ["run", "setup"], { cwd: clone, timeout: 20 * 60_000, maxBuffer: 64 << 20 });

  // Its own process group, so Ctrl-C reaches npm and what it started, as a terminal's would.
  const env = { ...process.env };
  delete env.DOCKER_HOST;
  const child = spawn("npm", ["start"], { cwd: clone, detached: true, stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    }
  });

  await until(
    () => {
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${output}`);
      return output.includes("SEMail is running on this machine");
    },
    () => `the banner:\n${output}`,
    25 * 60_000,
  );
  // The clone's home is closed to others, so what Dovecot and PHP read lives elsewhere.
  const reachable = /mailRoot: (\/var\/lib\/semail\/local\/[0-9a-f]+)\/mail/.exec(
    await readFile(join(clone, "var/local/semail.yaml"), "utf8"),
  )?.[1];
  assert.ok(reachable, "the mail root is under /var/lib/semail/local, not under the closed home");
  t.after(() => rm(reachable, { recursive: true, force: true }));
  const form = /web form\s+(http:\/\/\S+)/.exec(output)?.[1];
  assert.ok(form, `the banner names the web form:\n${output}`);
  const page = await fetch(form, { signal: AbortSignal.timeout(10_000) });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form[^>]*login/i);

  process.kill(-child.pid!, "SIGINT");
  const code = await Promise.race([exited, new Promise<"hung">((ok) => setTimeout(() => ok("hung"), 180_000).unref())]);
  assert.notEqual(code, "hung", `npm start did not stop within 3 minutes of Ctrl-C:\n${output}`);
  assert.match(output, /SEMail is stopped/);

  assert.deepEqual(await processesIn(clone), [], "no process of the clone's is left");
  const mounts = (await run("findmnt", ["-rn", "-o", "TARGET"])).stdout
    .split("\n")
    .filter((m) => m.startsWith(clone) || m.startsWith(reachable));
  assert.deepEqual(mounts, [], "no mount of the clone's is left");
  const loops = (await run("losetup", ["-a"])).stdout.split("\n").filter((l) => l.includes(clone));
  assert.deepEqual(loops, [], "no loop device is left attached to the clone's images");
});
