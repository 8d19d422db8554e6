// `semail inbound` as a command: help, and a bad setting stops start-up naming it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { sendMessage } from "../../helpers/smtp.ts";
import { USERS, provision, spawnInbound, usersYaml } from "./fixture.ts";
import { until } from "../../../testkit/until.ts";
import { repoPath } from "../../../testkit/repo-path.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const BIN = repoPath("bin/semail.mjs");
const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [BIN, ...args], { timeout: 20_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );

describe("semail inbound (command line)", () => {
  it("documents its flags", async () => {
    const { code, out } = await run(["inbound", "--help"]);
    assert.equal(code, 0);
    for (const flag of ["--listen ADDR:PORT", "--users FILE", "--mail-root DIR", "--config FILE"])
      assert.ok(out.includes(flag), flag);
    assert.match(out, /\[inbound\.listen\] \(repeatable\)/);
  });

  it("stops on a bad setting and names it", async () => {
    const listen = await run(["inbound", "--listen", "localhost", "--users", "/nonexistent.yaml"]);
    assert.equal(listen.code, 2);
    assert.match(listen.out, /inbound\.listen\[0\]: must be ADDR:PORT/);
    const users = await run([
      "inbound",
      "--listen",
      "127.0.0.1:0",
      "--users",
      "/nonexistent/users.yaml",
      "--mail-root",
      "/tmp/semail-cli-test-unused",
    ]);
    assert.equal(users.code, 2);
    assert.match(users.out, /users list \(setting users\): no such file/);
  });
});

describe("semail inbound (process)", () => {
  it("reloads the users list on SIGHUP and keeps serving, and stops on SIGTERM", async (t) => {
    const dir = await tempDir(t, "semail-inbound-");
    const usersFile = path.join(dir, "users.yaml");
    await writeFile(usersFile, usersYaml(USERS));
    await provision(path.join(dir, "mail"), USERS);
    const config = path.join(dir, "semail.yaml");
    await writeFile(
      config,
      stringify({
        managedDomain: "semail.test",
        users: usersFile,
        inbound: { listen: ["127.0.0.1:0"], mailRoot: path.join(dir, "mail"), minFreeSpace: "1MiB" },
      }),
    );
    const { child, port, output } = await spawnInbound(t, config);
    child.kill("SIGHUP");
    await until(() => output().includes("SIGHUP: reloading the users list"), "the SIGHUP log line");
    const reply = await sendMessage(port, {
      from: "a@example.org",
      to: ["ada@semail.test"],
      data: "Subject: after hup\r\n\r\nx\r\n",
    });
    assert.equal(reply.code, 250);
    child.kill("SIGTERM");
    await until(() => child.exitCode !== null, "the daemon to stop");
    assert.equal(child.exitCode, 0);
  });
});
