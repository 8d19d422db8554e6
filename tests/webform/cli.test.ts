// `semail web` as a process: starts from a settings file, serves the form, stops on
// SIGTERM; unsafe or unsupported settings stop it with a message naming the setting.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { slapdForFile } from "../helpers/slapd.ts";
import { Client } from "./helpers.ts";
import { REPO_ROOT } from "../../testkit/repo-path.ts";
import { untilValue } from "../../testkit/until.ts";
import { tempDirForSuite } from "../../testkit/temp-dir.ts";

const ROOT = REPO_ROOT;
const NODE = join(ROOT, "node_modules/.bin/node");

const slapd = slapdForFile();
const dir = tempDirForSuite("semail-web-cli-");

async function config(web: Record<string, unknown>): Promise<string> {
  const file = join(dir.path, `settings-${Math.random().toString(36).slice(2)}.yaml`);
  const { url, baseDn, userDnTemplate, adminGroupDn } = slapd.settings();
  await writeFile(
    file,
    stringify({
      managedDomain: "semail.test",
      users: join(dir.path, "users.yaml"),
      log: { level: "info" },
      ldap: { url, baseDn, userDnTemplate, adminGroupDn },
      web,
    }),
  );
  return file;
}

function run(args: string[]) {
  const child = spawn(NODE, [join(ROOT, "bin/semail.mjs"), "web", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

test("semail web serves the form and stops cleanly on SIGTERM", async (t) => {
  const file = await config({ listen: "127.0.0.1:0", secureCookies: false, apply: { mode: "none" } });
  const proc = run(["--config", file]);
  t.after(() => {
    if (proc.child.exitCode === null) proc.child.kill("SIGKILL");
  });
  const port = await untilValue(
    () => {
      if (proc.child.exitCode !== null)
        assert.fail(`semail web exited (${proc.child.exitCode}); stderr: ${proc.err()}`);
      const line = proc
        .out()
        .split("\n")
        .find((l) => l.includes("web form listening"));
      return line ? Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]) : undefined;
    },
    () => `the "listening" line; stderr: ${proc.err()}`,
    15_000,
    50,
  );
  const client = new Client(`http://127.0.0.1:${port}`);
  assert.equal((await client.get("/login")).status, 200);
  assert.equal((await client.login("alice", "alice-Secret1")).status, 303);
  assert.equal((await client.get("/")).status, 200);
  assert.equal(
    (await client.post("/mailbox", { localPart: "alice", kind: "subdomain", subdomain: "alice" })).status,
    303,
  );
  assert.doesNotMatch(proc.out(), /alice-Secret1/, "the password is never logged");
  assert.match(await readFile(join(dir.path, "users.yaml"), "utf8"), /address: alice@alice\.semail\.test/);
  proc.child.kill("SIGTERM");
  assert.equal(await proc.exit, 0);
});

test("insecure cookies are refused on a non-loopback address", async () => {
  const file = await config({ listen: "0.0.0.0:0", secureCookies: false, apply: { mode: "none" } });
  const proc = run(["--config", file]);
  assert.equal(await proc.exit, 2);
  assert.match(proc.err(), /web\.secureCookies: false sends session cookies over plain HTTP/);
});

test("local apply mode is refused by semail web with a pointer to semail start", async () => {
  const file = await config({ listen: "127.0.0.1:0", secureCookies: false });
  const proc = run(["--config", file, "--apply", "local"]);
  assert.equal(await proc.exit, 2);
  assert.match(proc.err(), /web\.apply\.mode local is run by `semail start`/);
});

test("a bad web setting names itself", async () => {
  const file = await config({ listen: "127.0.0.1:0", sessionSecret: "short", apply: { mode: "sometimes" } });
  const proc = run(["--config", file]);
  assert.equal(await proc.exit, 2);
  assert.match(proc.err(), /web\.sessionSecret: must be at least 32 characters/);
  assert.match(proc.err(), /web\.apply\.mode: /);
});
