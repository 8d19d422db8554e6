// A forward HTTP proxy for Debian's archive only, on this machine's address on the rig's
// network: the rig host has no route out (the tests' engine does no NAT), yet the program
// builds its images there with apt-get, as a real VM would from its own network. The docker
// stand-in hands the proxy to `docker build` as http_proxy (a predefined build arg: not part
// of the cache key or the image). Only GET and HEAD to deb.debian.org pass; anything else 403.
import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";

/** The archive hosts the base image's sources.list names (assets/images/base.sh). */
export const ARCHIVE_HOSTS: ReadonlySet<string> = new Set(["deb.debian.org"]);
const UPSTREAM_MS = 60_000;

function refuse(res: ServerResponse, why: string): void {
  res.writeHead(403, { "content-type": "text/plain" }).end(`semail rig archive proxy: ${why}\n`);
}

function forward(req: IncomingMessage, res: ServerResponse): void {
  let target: URL;
  try {
    target = new URL(req.url ?? "");
  } catch {
    return refuse(res, "only absolute http:// URLs (a proxy request)");
  }
  if (
    target.protocol !== "http:" ||
    !ARCHIVE_HOSTS.has(target.hostname) ||
    (target.port !== "" && target.port !== "80")
  ) {
    return refuse(res, `${target.host} is not Debian's archive`);
  }
  if (req.method !== "GET" && req.method !== "HEAD") return refuse(res, `${req.method} is not allowed`);
  const { "proxy-connection": _hop, ...rest } = req.headers as Record<string, string | string[] | undefined>;
  const headers = { ...rest, host: target.host };
  const upstream = httpRequest(
    {
      host: target.hostname,
      port: 80,
      method: req.method,
      path: `${target.pathname}${target.search}`,
      headers,
      timeout: UPSTREAM_MS,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("timeout", () => upstream.destroy(new Error("upstream timed out")));
  upstream.on("error", (err) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`semail rig archive proxy: ${err.message}\n`);
  });
  upstream.end();
}

/** Listens on `address` (this machine's, on the rig's network); closed after the test. */
export async function startArchiveProxy(
  t: TestContext,
  address: string,
): Promise<{ readonly url: string; readonly requests: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    count += 1;
    forward(req, res);
  });
  server.on("connect", (_req, socket) => socket.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n"));
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, address, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.after(() => server.closeAllConnections());
  const { port } = server.address() as AddressInfo;
  return { url: `http://${address}:${port}`, requests: () => count };
}
