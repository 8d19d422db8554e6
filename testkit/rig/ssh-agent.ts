// An ssh-agent of the test's own holding one key: the docker provider reaches a host with the
// system ssh and the operator's agent (components/connections.ts), so the rig does the same.
// Stopped by its pid after the test; its socket lives in a temp dir removed with it.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { until } from "../until.ts";

const run = promisify(execFile);

export interface SshAgent {
  /** What SSH_AUTH_SOCK takes. */
  readonly socket: string;
}

export async function startSshAgent(t: TestContext, privateKey: string): Promise<SshAgent> {
  const dir = await mkdtemp(join(tmpdir(), "semail-agent-"));
  const socket = join(dir, "agent.sock");
  const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" });
  t.after(async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill("SIGTERM");
      await new Promise((resolve) => agent.once("exit", resolve));
    }
    await rm(dir, { recursive: true, force: true });
  });
  await until(() => existsSync(socket), "ssh-agent's socket", 10_000);
  const key = join(dir, "key");
  await writeFile(key, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
  await run("ssh-add", [key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, timeout: 10_000 });
  await rm(key);
  return { socket };
}
