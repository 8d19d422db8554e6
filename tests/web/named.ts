// A real named on a free loopback port serving given zones, for the MX check of external domains.
import { spawn } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestNamed {
  /** "127.0.0.1:PORT", for web.dnsServers. */
  readonly server: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `zones` maps a zone name to its records (lines after the SOA and NS, which are added). */
export async function startTestNamed(zones: Readonly<Record<string, string>>): Promise<TestNamed> {
  const dir = await mkdtemp(join(tmpdir(), "semail-named-"));
  const port = await freePort();
  const conf = [
    `options { directory "${dir}"; pid-file "${dir}/named.pid"; listen-on port ${port} { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; };`,
    ...Object.keys(zones).map((zone) => `zone "${zone}" { type primary; file "${dir}/${zone}.zone"; };`),
  ].join("\n");
  await writeFile(join(dir, "named.conf"), conf);
  for (const [zone, records] of Object.entries(zones)) {
    await writeFile(join(dir, `${zone}.zone`), `$TTL 60\n@ IN SOA ns.${zone}. hostmaster.${zone}. 1 60 60 600 60\n@ IN NS ns.${zone}.\nns IN A 127.0.0.1\n${records}\n`);
  }
  const child = spawn("/usr/sbin/named", ["-g", "-c", join(dir, "named.conf"), "-n", "1"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const first = Object.keys(zones)[0]!;
  for (let i = 0; i < 100; i += 1) {
    if (child.exitCode !== null) break;
    try {
      await resolver.resolveNs(first);
      return { server: `127.0.0.1:${port}`, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`named did not start:\n${log.slice(-2000)}`);
}
