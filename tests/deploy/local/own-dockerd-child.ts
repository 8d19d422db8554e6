// Run by own-dockerd.test.ts inside fresh network and mount namespaces (a tmpfs on /run):
// starts local mode's own dockerd as `semail start` does, runs a container on it, stops it,
// and prints what it saw as JSON: net.ipv4.ip_forward, the forwarding of one interface set
// apart from it, and the entries of /run, before, while it ran and after it stopped, and
// what the stop said. Given a second data dir, a second local mode's dockerd runs when the
// first stops (seen as `afterFirst`), and is stopped after it.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { openDocker, type Docker } from "../../../deploy/local/docker-engine.ts";

const [dataDir, rootfs, otherDataDir] = process.argv.slice(2) as [string, string, string | undefined];
const INTERFACE = "semail-fwd0";
const sysctl = (key: string) => readFileSync(`/proc/sys/${key}`, "utf8").trim();
const runEntries = () =>
  execFileSync("find", ["/run"], { encoding: "utf8" })
    .split("\n")
    .filter((p) => p !== "")
    .sort();
const look = () => ({
  ipForward: sysctl("net/ipv4/ip_forward"),
  interfaceForwarding: sysctl(`net/ipv4/conf/${INTERFACE}/forwarding`),
  run: runEntries(),
});

const said: string[] = [];
async function ownDocker(dir: string): Promise<Docker> {
  process.env.DOCKER_HOST = "";
  const docker = await openDocker(dir, (line) => said.push(line));
  if ("reason" in docker) throw new Error(docker.reason);
  return docker;
}

// This namespace copied the machine's value; the test starts from forwarding off.
writeFileSync("/proc/sys/net/ipv4/ip_forward", "0\n");
// An interface that forwards although the machine does not (ip_forward=0 resets it: it must come back).
execFileSync("ip", ["link", "add", INTERFACE, "type", "bridge"]);
writeFileSync(`/proc/sys/net/ipv4/conf/${INTERFACE}/forwarding`, "1\n");
const before = look();
const docker = await ownDocker(dataDir);
let other: Docker | undefined;
let during: ReturnType<typeof look>;
let afterFirst: ReturnType<typeof look> | undefined;
try {
  // A container, so its containerd starts a shim (which makes its socket under /run/containerd/s).
  await docker.run(["import", rootfs, "semail-test-sleep"]);
  await docker.run(["run", "-d", "--name", "sleeper", "--network", "none", "semail-test-sleep", "/bin/sleep", "300"]);
  during = look();
  await docker.run(["rm", "-f", "sleeper"]);
  if (otherDataDir !== undefined) other = await ownDocker(otherDataDir);
} finally {
  await docker.stop();
  if (other) {
    afterFirst = look();
    await other.stop();
  }
}
process.stdout.write(`${JSON.stringify({ before, during, afterFirst, after: look(), said })}\n`);
