// The rig's network gets a subnet of its own choosing, not Docker's default pick: another
// dockerd on this machine (local mode's own, a test's) allocates from the same defaults
// (172.18.0.0/16 first), and two bridges with one subnet leave the rig's address unroutable.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

/** Candidates in a range no Docker default pool uses. */
export const RIG_SUBNETS: readonly string[] = Array.from({ length: 32 }, (_, i) => `10.231.${i}.0/24`);

/** The candidates whose network no route of this machine covers yet, in order. */
export async function unroutedRigSubnets(): Promise<string[]> {
  const { stdout } = await promisify(execFile)("ip", ["-4", "route", "show"]);
  const routed = stdout.split("\n").map((line) => line.split(" ")[0] ?? "");
  return RIG_SUBNETS.filter((subnet) => !routed.includes(subnet));
}
