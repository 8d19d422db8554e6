// users-firewall.sh on a real kernel: network namespaces play the VM (a bridge like the
// users' network) and three containers on it (alice, bob, outbound). Before the script,
// alice reaches bob's sshd and a service of the VM itself (so the checks can fail); after
// it, alice and bob reach only outbound's submission port.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { repoPath } from "../../../testkit/repo-path.ts";
import { isRoot, needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const SCRIPT = repoPath("assets/host/users-firewall.sh");
const tag = `sfw${process.pid % 100000}`;
const ns = { vm: `${tag}-vm`, alice: `${tag}-a`, bob: `${tag}-b`, outbound: `${tag}-o` };
const BRIDGE = "semail-ut0";
const ip = { vm: "10.250.0.1", alice: "10.250.0.10", bob: "10.250.0.11", outbound: "10.250.0.2" };
const servers: ChildProcess[] = [];

const inNs = (name: string, ...args: string[]) => run("ip", ["netns", "exec", name, ...args], { timeout: 20_000 });

/** A TCP server in `name` on ip:port that accepts and closes (python3, bounded by the test's end). */
async function listen(name: string, address: string, port: number): Promise<void> {
  const code = `import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("${address}",${port}))\ns.listen()\nprint("up",flush=True)\nwhile True:\n  c,_=s.accept(); c.close()`;
  const child = spawn("ip", ["netns", "exec", name, "python3", "-c", code], { stdio: ["ignore", "pipe", "ignore"] });
  servers.push(child);
  await new Promise<void>((ok, fail) => {
    child.stdout!.once("data", () => ok());
    child.once("exit", (c) => fail(new Error(`server in ${name} exited ${c}`)));
  });
}

/** "open" when a TCP connection from `name` to ip:port succeeds within 1.5 s. */
async function reach(name: string, address: string, port: number): Promise<string> {
  const code = `import socket\ntry:\n  socket.create_connection(("${address}",${port}),1.5).close(); print("open")\nexcept socket.timeout: print("dropped")\nexcept OSError as e: print("refused" if e.errno==111 else "error %d" % e.errno)`;
  return (await inNs(name, "python3", "-c", code)).stdout.trim();
}

before(async () => {
  if (!isRoot) return;
  for (const name of Object.values(ns)) await run("ip", ["netns", "add", name]);
  await inNs(ns.vm, "ip", "link", "add", BRIDGE, "type", "bridge");
  await inNs(ns.vm, "ip", "addr", "add", `${ip.vm}/24`, "dev", BRIDGE);
  await inNs(ns.vm, "ip", "link", "set", BRIDGE, "up");
  for (const who of ["alice", "bob", "outbound"] as const) {
    const port = `v${who[0]}-${tag}`.slice(0, 15);
    await run("ip", ["-n", ns.vm, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns[who]]);
    await run("ip", ["-n", ns.vm, "link", "set", port, "master", BRIDGE, "up"]);
    await run("ip", ["-n", ns[who], "addr", "add", `${ip[who]}/24`, "dev", "eth0"]);
    await run("ip", ["-n", ns[who], "link", "set", "eth0", "up"]);
    await run("ip", ["-n", ns[who], "link", "set", "lo", "up"]);
  }
  await listen(ns.outbound, ip.outbound, 2587);
  await listen(ns.bob, ip.bob, 22);
  await listen(ns.vm, ip.vm, 9999);
});

after(async () => {
  for (const child of servers) child.kill("SIGKILL");
  if (!isRoot) return;
  for (const name of Object.values(ns)) await run("ip", ["netns", "delete", name]).catch(() => undefined);
});

test("a user's container reaches outbound's submission port and nothing else on the bridge or the VM", async (t) => {
  if (needsRoot) return t.skip(needsRoot);
  assert.equal(
    await reach(ns.alice, ip.bob, 22),
    "open",
    "without the rules alice reaches bob's sshd (the check can fail)",
  );
  assert.equal(await reach(ns.alice, ip.vm, 9999), "open", "and a service of the VM");

  await inNs(ns.vm, "bash", SCRIPT, "install", "--bridge", BRIDGE, "--allow", `${ip.outbound}:2587`);
  assert.equal(await reach(ns.alice, ip.outbound, 2587), "open", "submission stays open");
  assert.equal(await reach(ns.bob, ip.outbound, 2587), "open");
  assert.equal(await reach(ns.alice, ip.bob, 22), "dropped", "no container reaches another");
  assert.equal(await reach(ns.alice, ip.outbound, 22), "dropped", "nor another port of outbound's");
  assert.equal(await reach(ns.alice, ip.vm, 9999), "dropped", "nor the VM itself");
  assert.equal(await reach(ns.vm, ip.bob, 22), "open", "the VM (its jump account) still reaches a container's sshd");

  // Run again (each pulumi up may): the same rules, not twice as many.
  const before = (await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout;
  await inNs(ns.vm, "bash", SCRIPT, "install", "--bridge", BRIDGE, "--allow", `${ip.outbound}:2587`);
  assert.equal((await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout, before);
});

test("bad arguments are refused, naming the option", async () => {
  for (const [args, reason] of [
    [["install", "--bridge", "Bad Name", "--allow", "10.0.0.2:587"], /--bridge "Bad Name" is not an interface name/],
    [["install", "--bridge", "br0"], /at least one --allow IP:PORT/],
    [
      ["install", "--bridge", "br0", "--allow", "semail-outbound:587"],
      /--allow "semail-outbound:587" must be IPv4:PORT/,
    ],
  ] as const) {
    const err = await run("bash", [SCRIPT, ...args]).then(
      () => assert.fail("accepted"),
      (e: { stderr: string }) => e,
    );
    assert.match(err.stderr, reason);
  }
});

test("check prints the rules in force, so a deleted rule shows; remove takes them away; then check fails", async (t) => {
  if (needsRoot) return t.skip(needsRoot);
  await inNs(ns.vm, "bash", SCRIPT, "install", "--bridge", BRIDGE, "--allow", `${ip.outbound}:2587`);
  const whole = (await inNs(ns.vm, "bash", SCRIPT, "check", "--bridge", BRIDGE)).stdout;
  assert.match(whole, /-A SEMAIL-USERS-FWD -d 10\.250\.0\.2\/32 -i semail-ut0 -p tcp .*--dport 2587/);
  assert.match(whole, new RegExp(`^hook FORWARD -o ${BRIDGE} -j SEMAIL-USERS-FWD$`, "m"));
  assert.equal(
    (await inNs(ns.vm, "bash", SCRIPT, "check", "--bridge", BRIDGE)).stdout,
    whole,
    "the same rules print the same",
  );

  await inNs(ns.vm, "iptables", "-t", "mangle", "-D", "FORWARD", "-o", BRIDGE, "-j", "SEMAIL-USERS-FWD");
  const drifted = (await inNs(ns.vm, "bash", SCRIPT, "check", "--bridge", BRIDGE)).stdout;
  assert.match(drifted, new RegExp(`^missing hook FORWARD -o ${BRIDGE} -j SEMAIL-USERS-FWD$`, "m"));

  await inNs(ns.vm, "bash", SCRIPT, "remove", "--bridge", BRIDGE);
  assert.doesNotMatch(
    (await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout,
    /SEMAIL-USERS/,
    "no chain or hook is left",
  );
  const gone = await inNs(ns.vm, "bash", SCRIPT, "check", "--bridge", BRIDGE).then(
    () => assert.fail("check passed with no rules"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /the chains SEMAIL-USERS-FWD and SEMAIL-USERS-IN are gone/);
  assert.equal(await reach(ns.alice, ip.bob, 22), "open", "and alice reaches bob again, as before the install");
});
