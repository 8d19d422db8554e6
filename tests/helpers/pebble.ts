// Pebble, Let's Encrypt's ACME test server, on loopback for a test file: built once into a
// cache outside the clone (testkit/pebble/build.sh, which `npm test`'s pretest also runs), its
// directory on a free port with a throwaway HTTPS certificate, its validation authority asking
// the test's own named (`-dnsserver`) and connecting to `httpPort` for HTTP-01. Every challenge
// is really checked: PEBBLE_VA_ALWAYS_VALID is never set. stop() ends it and removes its files.
import { execFile, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { Agent, get } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoPath } from "../../testkit/repo-path.ts";
import { selfSignedCertificate } from "../../testkit/tls.ts";
import { until } from "../../testkit/until.ts";

export interface RunningPebble {
  /** The ACME directory URL. */
  readonly directoryUrl: string;
  /** The PEM file of the certificate Pebble's own HTTPS shows (trust it for the directory). */
  readonly directoryCa: string;
  /** Pebble's root CA (from its management interface, /roots/0): the one anchor a client should trust. */
  readonly root: string;
  /** Pebble's log so far, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 now (closed again at once; Pebble binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/** Builds (or finds) Pebble; the build is bounded, as a test's before hook must be. */
export async function pebbleBinary(timeoutMs = 600_000): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [repoPath("testkit/pebble/build.sh")], {
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.trim().split("\n").at(-1)!;
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Pebble answers 400 to a request without a User-Agent.
    get(url, { agent: new Agent({ ca }), timeout: 10_000, headers: { "user-agent": "semail-test" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on("error", reject);
  });
}

/** Starts Pebble in `dir` (a temp dir the caller removes), validating through `dnsServer` ("127.0.0.1:PORT"). */
export async function startPebble(dir: string, dnsServer: string, httpPort: number): Promise<RunningPebble> {
  const binary = await pebbleBinary();
  const tls = await selfSignedCertificate("localhost");
  const [port, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, "pebble-config.json");
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: tls.certFile,
        privateKey: tls.keyFile,
        httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        domainBlocklist: ["blocked-domain.example"],
        retryAfter: { authz: 1, order: 1 },
        keyAlgorithm: "ecdsa",
        profiles: { default: { description: "90 days", validityPeriod: 7_776_000 } },
      },
    }),
  );
  const child = spawn(binary, ["-config", config, "-dnsserver", dnsServer], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      // No random waits before a check, no nonces refused for practice, no authorization reused:
      // a renewal is checked again. PEBBLE_VA_ALWAYS_VALID stays unset.
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
    },
  });
  let log = "";
  child.stdout.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (!gone) child.kill("SIGTERM");
    await exited;
    await tls.cleanup();
  };
  try {
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    await until(
      async () => {
        if (gone) throw new Error(`pebble exited:\n${log}`);
        return fetchText(directoryUrl, tls.cert).then(
          () => true,
          () => false,
        );
      },
      () => `pebble's directory at ${directoryUrl}:\n${log}`,
      30_000,
      100,
    );
    const root = await fetchText(`https://127.0.0.1:${managementPort}/roots/0`, tls.cert);
    return { directoryUrl, directoryCa: tls.certFile, root, output: () => log, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
