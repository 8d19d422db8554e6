// The bans in the kernel: one chain of our own in iptables and in ip6tables (bans.chain),
// jumped to from bans.hookFrom, holding one REJECT rule per banned address. Nothing else is
// touched, so removing the chain removes every trace. `-w`: other programs (Docker, the
// users' firewall) take the xtables lock too.
import { execFile } from "node:child_process";
import { isIP } from "node:net";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Runs one iptables-style command; resolves to its exit code (0 or 1: a check answers with it). */
export type RunTables = (program: string, args: readonly string[]) => Promise<number>;

export const runTables: RunTables = async (program, args) => {
  try {
    await exec(program, ["-w", "10", ...args], { timeout: 30_000 });
    return 0;
  } catch (err) {
    const failed = err as { code?: unknown; stderr?: string };
    if (failed.code === 1) return 1;
    throw new Error(`${program} ${args.join(" ")}: ${failed.stderr?.trim() || String(err)}`);
  }
};

export interface Firewall {
  /** Makes the chains and their jumps, and leaves exactly `addresses` banned in them. */
  install(addresses: readonly string[]): Promise<void>;
  /** Bans one address; banning it again adds no second rule. */
  ban(address: string): Promise<void>;
  /** Lifts one ban; lifting one that is not there does nothing. */
  unban(address: string): Promise<void>;
  /** Removes the jumps and the chains (tests; an operator giving the bans up). */
  uninstall(): Promise<void>;
}

export interface FirewallOptions {
  readonly chain: string;
  readonly hookFrom: readonly string[];
  readonly run?: RunTables;
  /** Told of a hook chain that ip6tables lacks (Docker's DOCKER-USER without IPv6): IPv4 still works. */
  readonly warn?: (message: string) => void;
}

const FAMILIES = [
  { program: "iptables", prefix: 32 },
  { program: "ip6tables", prefix: 128 },
] as const;

function familyOf(address: string) {
  const version = isIP(address);
  if (version === 0) throw new Error(`${JSON.stringify(address)} is not an IP address`);
  return FAMILIES[version === 4 ? 0 : 1];
}

export function iptablesFirewall(options: FirewallOptions): Firewall {
  const { chain, hookFrom } = options;
  const run = options.run ?? runTables;
  const rule = (address: string): string[] => ["-s", `${address}/${familyOf(address).prefix}`, "-j", "REJECT"];
  const must = async (program: string, args: string[]): Promise<void> => {
    if ((await run(program, args)) !== 0) throw new Error(`${program} ${args.join(" ")} failed`);
  };

  return {
    async install(addresses) {
      for (const { program } of FAMILIES) {
        if ((await run(program, ["-n", "-L", chain])) !== 0) await must(program, ["-N", chain]);
        await must(program, ["-F", chain]);
        for (const hook of hookFrom) {
          if ((await run(program, ["-n", "-L", hook])) !== 0) {
            const missing = `${program}: chain ${hook} (bans.hookFrom) does not exist`;
            if (program === "iptables")
              throw new Error(`${missing}: start what makes it, or drop it from bans.hookFrom`);
            options.warn?.(`${missing}; IPv6 clients are not banned there`);
            continue;
          }
          if ((await run(program, ["-C", hook, "-j", chain])) !== 0)
            await must(program, ["-I", hook, "1", "-j", chain]);
        }
      }
      for (const address of addresses) await this.ban(address);
    },
    async ban(address) {
      const { program } = familyOf(address);
      if ((await run(program, ["-C", chain, ...rule(address)])) !== 0)
        await must(program, ["-A", chain, ...rule(address)]);
    },
    async unban(address) {
      const { program } = familyOf(address);
      // Bounded: one rule per address, so a second one would only be a leftover.
      for (let i = 0; i < 10 && (await run(program, ["-C", chain, ...rule(address)])) === 0; i++)
        await must(program, ["-D", chain, ...rule(address)]);
    },
    async uninstall() {
      for (const { program } of FAMILIES) {
        for (const hook of hookFrom) {
          for (let i = 0; i < 10 && (await run(program, ["-C", hook, "-j", chain]).catch(() => 1)) === 0; i++)
            await must(program, ["-D", hook, "-j", chain]);
        }
        if ((await run(program, ["-n", "-L", chain])) === 0) {
          await must(program, ["-F", chain]);
          await must(program, ["-X", chain]);
        }
      }
    },
  };
}
