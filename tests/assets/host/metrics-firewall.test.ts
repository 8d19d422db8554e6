// metrics-firewall.sh on a real kernel: network namespaces play the VM (a metrics port and
// another service on its address, on a bridge) and two machines beside it, a Prometheus that
// semail:metricsScrapeFrom names and a stranger. Before the script both reach the metrics port
// (so the checks can fail); after it only the Prometheus does, the VM's own loopback still does,
// and other ports are untouched; remove opens it again.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { repoPath } from "../../../testkit/repo-path.ts";
import { isRoot, needsRoot } from "../../../testkit/needs-root.ts";

const run = promisify(execFile);
const SCRIPT = repoPath("assets/host/metrics-firewall.sh");
const tag = `smf${process.pid % 100000}`;
const ns = { vm: `${tag}-vm`, prom: `${tag}-p`, other: `${tag}-o` };
const BRIDGE = "semail-mt0";
const ip = { vm: "10.251.0.1", prom: "10.251.0.10", other: "10.251.0.11" };
const servers: ChildProcess[] = [];

const inNs = (name: string, ...args: string[]) => run("ip", ["netns", "exec", name, ...args], { timeout: 20_000 });

/** A TCP server in `name` on every address, `port`, that accepts and closes (python3, bounded by the test's end). */
async function listen(name: string, port: number): Promise<void> {
  const code = `import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("0.0.0.0",${port}))\ns.listen()\nprint("up",flush=True)\nwhile True:\n  c,_=s.accept(); c.close()`;
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
  await inNs(ns.vm, "ip", "link", "set", "lo", "up");
  for (const who of ["prom", "other"] as const) {
    const port = `v${who[0]}-${tag}`.slice(0, 15);
    await run("ip", ["-n", ns.vm, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns[who]]);
    await run("ip", ["-n", ns.vm, "link", "set", port, "master", BRIDGE, "up"]);
    await run("ip", ["-n", ns[who], "addr", "add", `${ip[who]}/24`, "dev", "eth0"]);
    await run("ip", ["-n", ns[who], "link", "set", "eth0", "up"]);
  }
  await listen(ns.vm, 9101);
  await listen(ns.vm, 25);
});

after(async () => {
  for (const child of servers) child.kill("SIGKILL");
  if (!isRoot) return;
  for (const name of Object.values(ns)) await run("ip", ["netns", "delete", name]).catch(() => undefined);
});

test("only the named Prometheus reaches the metrics port from outside; loopback and other ports are untouched", async (t) => {
  if (needsRoot) return t.skip(needsRoot);
  assert.equal(await reach(ns.other, ip.vm, 9101), "open", "without the rules anyone reaches it (the check can fail)");

  const install = ["install", "--port", "9101", "--port", "9102", "--from", `${ip.prom}/32`, "--from", "2001:db8::/32"];
  await inNs(ns.vm, "bash", SCRIPT, ...install);
  assert.equal(await reach(ns.prom, ip.vm, 9101), "open", "the Prometheus of metricsScrapeFrom scrapes");
  assert.equal(await reach(ns.other, ip.vm, 9101), "dropped", "anyone else is dropped");
  assert.equal(await reach(ns.other, ip.vm, 25), "open", "the VM's other services are untouched");
  assert.equal(await reach(ns.vm, "127.0.0.1", 9101), "open", "a Prometheus on the VM still scrapes on loopback");

  // Run again (each pulumi up may): the same rules, not twice as many.
  const rules = (await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout;
  await inNs(ns.vm, "bash", SCRIPT, ...install);
  assert.equal((await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout, rules);
  assert.match(
    (await inNs(ns.vm, "bash", SCRIPT, "check")).stdout,
    /-A SEMAIL-METRICS -s 10\.251\.0\.10\/32 -j RETURN/,
  );

  await inNs(ns.vm, "bash", SCRIPT, "remove");
  assert.doesNotMatch((await inNs(ns.vm, "iptables", "-t", "mangle", "-S")).stdout, /SEMAIL-METRICS/);
  assert.equal(await reach(ns.other, ip.vm, 9101), "open", "removed: open again");
  const gone = await inNs(ns.vm, "bash", SCRIPT, "check").then(
    () => assert.fail("check passed with no rules"),
    (e: { code: number }) => e,
  );
  assert.equal(gone.code, 1);
});

test("bad arguments are refused, naming the option", async () => {
  for (const [args, reason] of [
    [["install", "--port", "9101"], /at least one --from CIDR/],
    [["install", "--from", "10.0.0.0/8"], /at least one --port/],
    [["install", "--port", "99999", "--from", "10.0.0.0/8"], /--port "99999" is not a port number/],
    [["install", "--port", "9101", "--from", "prometheus"], /--from "prometheus" must be ADDR\/PREFIX/],
  ] as const) {
    const err = await run("bash", [SCRIPT, ...args]).then(
      () => assert.fail("accepted"),
      (e: { stderr: string }) => e,
    );
    assert.match(err.stderr, reason);
  }
});
