// DNSSEC for the DANE tests, with BIND's own tools: a zone signed here (dnssec-keygen,
// dnssec-signzone) for the project's named to serve, and a second named that validates it
// (recursion, dnssec-validation, the zone's key as its only trust anchor, forwarding to the
// first), so its answers carry the AD bit exactly when they validate.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { query } from "../../../../../../mailservers/outbound/relay/delivery/tls-policy/dnssec-lookup.ts";
import { until } from "../../../../../../testkit/until.ts";

const run = promisify(execFile);

export interface SignedZone {
  /** The signed zone file's text. */
  text: string;
  /** The key-signing key as a trust-anchors line: `"apex." static-key 257 3 13 "..."`. */
  trustAnchor: string;
}

/** Signs a zone text (from zoneText) with a new ECDSA P-256 KSK and ZSK. */
export async function signZone(apex: string, text: string): Promise<SignedZone> {
  const dir = await mkdtemp(join(tmpdir(), "semail-dnssec-"));
  try {
    await run("dnssec-keygen", ["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K", dir, apex], { timeout: 20_000 });
    await run("dnssec-keygen", ["-q", "-a", "ECDSAP256SHA256", "-K", dir, apex], { timeout: 20_000 });
    await writeFile(join(dir, "zone.db"), text);
    await run(
      "dnssec-signzone",
      ["-q", "-S", "-K", dir, "-o", apex, "-f", join(dir, "zone.signed"), join(dir, "zone.db")],
      { timeout: 20_000, cwd: dir },
    );
    const keys = (await readdir(dir)).filter((f) => f.endsWith(".key"));
    let anchor: string | undefined;
    for (const file of keys) {
      const line = (await readFile(join(dir, file), "utf8")).split("\n").find((l) => /\bDNSKEY\s+257\b/.test(l));
      const m = line?.match(/DNSKEY\s+(257)\s+(\d+)\s+(\d+)\s+(.+)$/);
      if (m) anchor = `"${apex}." static-key ${m[1]} ${m[2]} ${m[3]} "${m[4]!.replace(/\s+/g, "")}"`;
    }
    if (!anchor) throw new Error("dnssec-keygen made no key-signing key");
    return { text: await readFile(join(dir, "zone.signed"), "utf8"), trustAnchor: anchor };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ValidatingNamed {
  /** "127.0.0.1:PORT". */
  server: string;
  stop(): Promise<void>;
}

/** A validating, recursive named for `apex` that forwards to `upstream` ("127.0.0.1:PORT") and trusts only `trustAnchor`. */
export async function startValidatingNamed(
  apex: string,
  upstream: string,
  trustAnchor: string,
): Promise<ValidatingNamed> {
  const dir = await mkdtemp(join(tmpdir(), "semail-validator-"));
  const port = await freePort();
  const [upHost, upPort] = upstream.split(":");
  await writeFile(
    join(dir, "named.conf"),
    [
      "options {",
      `  directory "${dir}";`,
      `  pid-file "${join(dir, "named.pid")}";`,
      `  session-keyfile "${join(dir, "session.key")}";`,
      `  managed-keys-directory "${dir}";`,
      `  listen-on port ${port} { 127.0.0.1; };`,
      "  listen-on-v6 { none; };",
      "  recursion yes;",
      "  allow-query { any; };",
      "  allow-recursion { any; };",
      "  dnssec-validation yes;",
      "};",
      "controls { };",
      `trust-anchors { ${trustAnchor}; };`,
      `zone "${apex}" { type forward; forward only; forwarders { ${upHost} port ${upPort}; }; };`,
      "",
    ].join("\n"),
  );
  const output: string[] = [];
  const child = spawn("/usr/sbin/named", ["-g", "-4", "-c", join(dir, "named.conf")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const server = `127.0.0.1:${port}`;
  try {
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`named exited: ${output.join("")}`);
        return query(server, apex, 6, 500).then(
          (a) => a.rcode === 0,
          () => false,
        );
      },
      () => `the validating named to answer: ${output.join("").slice(-2000)}`,
      15_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, stop };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}
