// A client host of the test's own: a network namespace joined to this machine by a veth pair
// on a private /30 (10.232.N.0/30, N free here). Banning its address cannot cut anything else.
// Everything is removed when the test ends, also when setting it up failed half way.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { AfterHook } from "../../../testkit/temp-dir.ts";

const exec = promisify(execFile);

export interface TestHost {
  readonly namespace: string;
  /** This machine's end of the pair: where a server listens for the test host. */
  readonly serverAddress: string;
  /** The test host's address, the one that gets banned. */
  readonly clientAddress: string;
  /** The /30 both are on. */
  readonly network: string;
  /** Runs a program inside the test host; resolves to its standard output. */
  run(program: string, args: readonly string[]): Promise<string>;
}

const ip = async (...args: string[]): Promise<void> => {
  await exec("ip", args, { timeout: 10_000 });
};

/** The first 10.232.N.0/30 (N from 100) that no interface here uses yet. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await exec("ip", ["-o", "addr"], { timeout: 10_000 });
  for (let n = 100; n < 255; n++) if (!stdout.includes(`10.232.${n}.`)) return n;
  throw new Error("no free 10.232.N.0/30 between 100 and 254: remove old test links (ip link)");
}

export async function startTestHost(t: AfterHook): Promise<TestHost> {
  const n = await freeSubnet();
  const tag = `${n}p${process.pid % 100_000}`;
  const namespace = `semail-bans-${tag}`;
  const outside = `sbh${tag}`;
  const inside = `sbn${tag}`;
  t.after(async () => {
    await ip("link", "del", outside).catch(() => {});
    await ip("netns", "del", namespace).catch(() => {});
  });
  await ip("netns", "add", namespace);
  await ip("link", "add", outside, "type", "veth", "peer", "name", inside);
  await ip("link", "set", inside, "netns", namespace);
  await ip("addr", "add", `10.232.${n}.1/30`, "dev", outside);
  await ip("link", "set", outside, "up");
  await ip("-n", namespace, "addr", "add", `10.232.${n}.2/30`, "dev", inside);
  await ip("-n", namespace, "link", "set", inside, "up");
  await ip("-n", namespace, "link", "set", "lo", "up");
  return {
    namespace,
    serverAddress: `10.232.${n}.1`,
    clientAddress: `10.232.${n}.2`,
    network: `10.232.${n}.0/30`,
    async run(program, args) {
      const { stdout } = await exec("ip", ["netns", "exec", namespace, program, ...args], { timeout: 30_000 });
      return stdout;
    },
  };
}
