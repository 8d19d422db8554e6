// What a user's container may reach in local mode, enforced by netfilter on the users'
// bridge: the outbound daemon's submission port on the bridge's gateway address, nothing
// else on this machine, no other container (the bridge's traffic passes iptables through
// br_netfilter), and nothing outside (the network is internal, and forwarding is dropped
// here). Across the bridge only the jump container reaches a container's sshd (port 22),
// and a container the apt proxy's port, as in production. The apt proxy alone has a way
// out, masqueraded from its own network (production's services network).
//
// The drops live in the mangle table, which Docker never touches, so they hold whatever an
// engine's own rules (or none, with --iptables=false) accept; the filter table only gets an
// ACCEPT for the bridge's own traffic, which a FORWARD policy of DROP would otherwise stop.
import { execFile } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { promisify } from "node:util";

const exec = promisify(execFile);

export interface UsersFirewall {
  /** Short id of the local mode instance (chain names). */
  readonly id: string;
  /** The users' bridge, e.g. semail-u1a2b3c. */
  readonly bridge: string;
  /** The host's address on the bridge. */
  readonly gateway: string;
  /** The outbound daemon's submission port there. */
  readonly submissionPort: number;
  /** The jump container's address on the bridge. */
  readonly jumpIp: string;
  /** The apt proxy: its address on the bridge and port, its own network's bridge and subnet. */
  readonly apt: { readonly ip: string; readonly port: number; readonly bridge: string; readonly subnet: string };
}

type Rule = readonly [table: "mangle" | "filter" | "nat", chain: string, ...spec: string[]];

/** The rules as iptables arguments: own chains first (with their rules), then the jumps into them. */
export function firewallRules(f: UsersFirewall): { chains: Rule[]; hooks: Rule[] } {
  const fwd = `SEMAIL-${f.id}-FWD`;
  const input = `SEMAIL-${f.id}-IN`;
  const established = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"];
  return {
    chains: [
      ["mangle", fwd, ...established],
      [
        "mangle",
        fwd,
        "-i",
        f.bridge,
        "-o",
        f.bridge,
        "-s",
        f.jumpIp,
        "-p",
        "tcp",
        "--dport",
        "22",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "RETURN",
      ],
      [
        "mangle",
        fwd,
        "-i",
        f.bridge,
        "-o",
        f.bridge,
        "-d",
        f.apt.ip,
        "-p",
        "tcp",
        "--dport",
        String(f.apt.port),
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "RETURN",
      ],
      ["mangle", fwd, "-j", "DROP"],
      ["mangle", input, ...established],
      [
        "mangle",
        input,
        "-d",
        f.gateway,
        "-p",
        "tcp",
        "--dport",
        String(f.submissionPort),
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "RETURN",
      ],
      ["mangle", input, "-j", "DROP"],
    ],
    hooks: [
      ["mangle", "FORWARD", "-i", f.bridge, "-j", fwd],
      ["mangle", "FORWARD", "-o", f.bridge, "-j", fwd],
      ["mangle", "INPUT", "-i", f.bridge, "-j", input],
      ["filter", "FORWARD", "-i", f.bridge, "-o", f.bridge, "-j", "ACCEPT"],
      // The apt proxy's way out (an engine with its own iptables rules does the same).
      ["filter", "FORWARD", "-i", f.apt.bridge, "!", "-o", f.apt.bridge, "-j", "ACCEPT"],
      ["filter", "FORWARD", "-o", f.apt.bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
      ["nat", "POSTROUTING", "-s", f.apt.subnet, "!", "-o", f.apt.bridge, "-j", "MASQUERADE"],
    ],
  };
}

async function iptables(args: readonly string[], binary = "iptables"): Promise<void> {
  try {
    await exec(binary, ["-w", "10", ...args], { timeout: 20_000 });
  } catch (err) {
    throw new Error(
      `${binary} ${args.join(" ")}: ${String((err as { stderr?: string }).stderr ?? "").trim() || (err as Error).message}`,
    );
  }
}

/** Why the firewall cannot hold on this machine, or undefined when it can. */
export async function firewallProblem(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "the users' containers need root (their firewall, their mail filesystems)";
  for (const program of ["/usr/sbin/iptables", "/sbin/iptables"]) {
    if (
      await access(program).then(
        () => true,
        () => false,
      )
    ) {
      const bridged = (await readFile("/proc/sys/net/bridge/bridge-nf-call-iptables", "utf8").catch(() => "")).trim();
      if (bridged !== "1") {
        return "bridged traffic does not pass iptables here (modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1), so one user's container could reach another's";
      }
      return undefined;
    }
  }
  return "iptables is not installed (apt-get install iptables)";
}

/** Removes the rules of `f` (also those a killed start left); absent ones are fine. */
export async function removeUsersFirewall(f: UsersFirewall): Promise<void> {
  const { chains, hooks } = firewallRules(f);
  for (const [table, chain, ...spec] of hooks) {
    // A rule added twice (a start killed between its add and the next removal) goes too.
    for (let i = 0; i < 5; i++)
      if (
        !(await iptables(["-t", table, "-D", chain, ...spec]).then(
          () => true,
          () => false,
        ))
      )
        break;
  }
  for (const [table, chain] of [...new Set(chains.map(([t, c]) => `${t} ${c}`))].map(
    (s) => s.split(" ") as [string, string],
  )) {
    await iptables(["-t", table, "-F", chain]).catch(() => undefined);
    await iptables(["-t", table, "-X", chain]).catch(() => undefined);
  }
  for (const chain of ["INPUT", "FORWARD"]) {
    for (let i = 0; i < 5; i++)
      if (
        !(await iptables(["-t", "mangle", "-D", chain, "-i", f.bridge, "-j", "DROP"], "ip6tables").then(
          () => true,
          () => false,
        ))
      )
        break;
  }
}

/** Installs the rules (replacing any of a former start); returns their removal. */
export async function installUsersFirewall(f: UsersFirewall): Promise<() => Promise<void>> {
  await removeUsersFirewall(f);
  const { chains, hooks } = firewallRules(f);
  for (const name of new Set(chains.map(([t, c]) => `${t} ${c}`))) {
    const [table, chain] = name.split(" ") as [string, string];
    await iptables(["-t", table, "-N", chain]);
  }
  for (const [table, chain, ...spec] of chains) await iptables(["-t", table, "-A", chain, ...spec]);
  // Inserted first, so they come before any rule of an engine's.
  for (const [table, chain, ...spec] of hooks) await iptables(["-t", table, "-I", chain, "1", ...spec]);
  // The containers have IPv6 switched off; their bridge carries none either.
  for (const chain of ["INPUT", "FORWARD"])
    await iptables(["-t", "mangle", "-I", chain, "1", "-i", f.bridge, "-j", "DROP"], "ip6tables").catch(
      () => undefined,
    );
  return () => removeUsersFirewall(f);
}
