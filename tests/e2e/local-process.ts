// `semail start` as a real child process for the end-to-end tests, on ports of their own.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freeLocalPorts, localSettingsYaml } from "../../deploy/local/defaults.ts";
import { untilValue } from "../../testkit/until.ts";

export const ROOT = join(import.meta.dirname, "../..");
export const SEMAIL = join(ROOT, "bin/semail.mjs");

/** Free ports for every part, written as local mode's settings before its first start. */
export async function writeLocalSettings(dataDir: string) {
  const ports = await freeLocalPorts();
  await writeFile(join(dataDir, "semail.yaml"), localSettingsYaml(dataDir, ports, "dc=semail,dc=test"));
  return ports;
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((ok) => child.once("exit", (code) => ok(code)));
}

export interface StartLocalOptions {
  /** With the users' containers (Docker); without (--no-containers) unless asked. */
  readonly containers?: boolean;
  /** Plain mailbox directories even as root (--no-images): no image files, no loop mounts. */
  readonly noImages?: boolean;
  /** More environment, e.g. the DOCKER_HOST of the tests' engine. */
  readonly env?: NodeJS.ProcessEnv;
  /** How long the start may take (image builds on a cold engine take minutes). */
  readonly readyMs?: number;
}

/** `semail start` as a child process, ready once it wrote ready.json. */
export async function startLocal(dataDir: string, options: StartLocalOptions = {}) {
  const args = [
    SEMAIL,
    "start",
    "--data-dir",
    dataDir,
    ...(options.containers ? [] : ["--no-containers"]),
    ...(options.noImages ? ["--no-images"] : []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
  const ready = await untilValue(
    async () => {
      if (child.exitCode !== null) throw new Error(`semail start exited ${child.exitCode}: ${output}`);
      const text = await readFile(join(dataDir, "ready.json"), "utf8").catch(() => undefined);
      return text === undefined
        ? undefined
        : (JSON.parse(text) as {
            passwords: Record<string, string>;
            containers: { jumpPort?: number; network?: string; off?: string };
          });
    },
    "semail start to be ready",
    options.readyMs ?? 90_000,
    100,
  ).catch((err: Error) => {
    child.kill("SIGKILL");
    return assert.fail(`${err.message}\n${output}`);
  });
  return {
    ready,
    output: () => output,
    /** Ctrl-C; resolves with the exit code. */
    interrupt: async () => {
      child.kill("SIGINT");
      return exited(child);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited(child);
    },
  };
}
