// The sshd parser on a real sshd's lines (sshd -D -e: the bare messages, as journalctl -o cat
// shows them): wrong passwords, too many wrong keys, and a login given up after a wrong key.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { freeLoopbackPort } from "../../../../deploy/local/ports.ts";
import { parseSshdLine } from "../../../../services/bans/parsers/sshd-log.ts";
import { needsRoot } from "../../../../testkit/needs-root.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";
import { until } from "../../../../testkit/until.ts";

const exec = promisify(execFile);

test("a real sshd's failed logins name the client and say how they failed", { skip: needsRoot }, async (t) => {
  const dir = await tempDir(t, "semail-bans-sshd-");
  for (const key of ["host", "k1", "k2", "k3"])
    await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, key)]);
  const port = await freeLoopbackPort();
  await writeFile(
    join(dir, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication no",
      "MaxAuthTries 3",
      "",
    ].join("\n"),
  );
  let log = "";
  const sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  sshd.stderr.on("data", (chunk: Buffer) => void (log += chunk.toString()));
  const exited = new Promise((resolve) => sshd.once("close", resolve));
  t.after(async () => {
    sshd.kill("SIGTERM");
    await exited;
  });
  await until(
    () => log.includes("Server listening"),
    () => `sshd to listen: ${log}`,
  );
  await writeFile(join(dir, "askpass"), "#!/bin/sh\necho wrong-password\n", { mode: 0o755 });
  const ssh = (user: string, options: string[], env: Record<string, string> = {}) =>
    exec(
      "ssh",
      [
        "-n",
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-p",
        String(port),
        ...options,
        `${user}@127.0.0.1`,
        "true",
      ],
      { env: { ...process.env, ...env }, timeout: 30_000 },
    ).then(
      () => assert.fail(`${user} logged in`),
      () => undefined,
    );
  // Two wrong passwords (ssh asks SSH_ASKPASS), then three wrong keys, then one wrong key.
  await ssh("jump", ["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=2"], {
    SSH_ASKPASS: join(dir, "askpass"),
    SSH_ASKPASS_REQUIRE: "force",
    DISPLAY: "none",
  });
  const keys = (...names: string[]) => [
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "PreferredAuthentications=publickey",
    ...names.flatMap((n) => ["-i", join(dir, n)]),
  ];
  await ssh("jump", keys("k1", "k2", "k3"));
  await ssh("nobody", keys("k1"));

  const reasons = () =>
    log
      .split("\n")
      .map(parseSshdLine)
      .filter((f) => f !== undefined);
  await until(
    () => reasons().length === 5,
    () => `five failures in sshd's log:\n${log}`,
    15_000,
  );
  assert.deepEqual(
    reasons().map((f) => `${f.address} ${f.reason}`),
    [
      "127.0.0.1 ssh password failed",
      "127.0.0.1 ssh password failed",
      "127.0.0.1 ssh login abandoned",
      "127.0.0.1 ssh attempts limit",
      "127.0.0.1 ssh login abandoned",
    ],
  );
});
