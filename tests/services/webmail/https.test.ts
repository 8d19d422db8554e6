// The webmail image serving Roundcube over HTTPS on a real Docker engine: nginx answers on 443
// with the mounted certificate (TLS 1.2 and 1.3 only, HSTS), port 80 redirects (autoconfig
// aside: image-autoconfig.test.ts), the login page comes through php-fpm with Secure, HttpOnly
// cookies, only index.php runs, and php-fpm never runs more than its two workers. Reports the
// idle PSS of nginx and php-fpm.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Socket } from "node:net";
import path from "node:path";
import { test } from "node:test";
import { connect, type SecureVersion } from "node:tls";
import { processTree } from "../../../bench/lib/process.ts";
import { dockerEngine, type DockerEngine } from "../../../testkit/docker.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { until } from "../../../testkit/until.ts";
import { buildImage, dockerScope } from "../../assets/images/fixture.ts";
import { pssKiB } from "./fixture.ts";
import { get, logIn, WEBMAIL_NAME as NAME } from "./https-client.ts";
import { needsRoot } from "../../../testkit/needs-root.ts";

/** The TLS version a handshake limited to `version` ends with, or its error. */
function handshake(host: string, version: SecureVersion, ca: string): Promise<string> {
  return new Promise((resolve) => {
    // SECLEVEL=0: our side offers the old version; the refusal must come from the server.
    const socket = connect(
      {
        host,
        port: 443,
        servername: NAME,
        ca,
        minVersion: version,
        maxVersion: version,
        ciphers: "DEFAULT:@SECLEVEL=0",
        timeout: 10_000,
      },
      () => {
        resolve(socket.getProtocol() ?? "none");
        socket.destroy();
      },
    );
    socket.once("error", (err: Error) => resolve(`refused: ${err.message}`));
    socket.once("timeout", () => {
      socket.destroy();
      resolve("refused: timeout");
    });
  });
}

/** The gateway of a test network: where a container reaches this machine. */
async function gatewayOf(engine: DockerEngine, network: string): Promise<string> {
  return (await engine.docker(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network])).trim();
}

/** A "Dovecot" that accepts and never answers, until released; then it closes every connection. */
async function silentListener(host: string) {
  const held: Socket[] = [];
  const firstBytes: number[] = [];
  let released = false;
  const server = createServer((socket) => {
    socket.on("error", () => undefined);
    if (released) return void socket.destroy();
    held.push(socket);
    socket.once("data", (data: Buffer) => firstBytes.push(data[0]!));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, host, resolve));
  return {
    address: `${host}:${(server.address() as AddressInfo).port}`,
    held,
    firstBytes,
    release() {
      released = true;
      for (const socket of held) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        released = true;
        for (const socket of held) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The container's processes, seen from the host, by command name. */
async function processes(initPid: number): Promise<Array<{ pid: number; comm: string; user: number }>> {
  const found = [];
  for (const pid of await processTree(initPid)) {
    const comm = (await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "")).trim();
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    if (comm !== "") found.push({ pid, comm, user: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) });
  }
  return found;
}

test("the webmail image serves Roundcube over HTTPS with the mounted certificate, redirects HTTP, and keeps to two PHP workers", {
  skip: needsRoot,
  timeout: 20 * 60_000,
}, async (t) => {
  const engine = await dockerEngine();
  // After hooks run first-registered first: the scope removes its containers and networks
  // while the engine still runs, then the engine is let go.
  const scope = dockerScope(t, engine);
  t.after(() => engine.release());
  const image = await buildImage(engine, "webmail");

  const dir = await scope.dir("semail-webmail-https-");
  await mkdir(path.join(dir, "webmail"));
  await writeFile(path.join(dir, "webmail", "addresses"), "alice@alice.semail.test alice\n");
  const cert = await selfSignedCertificate(NAME);
  t.after(() => cert.cleanup());
  const network = await scope.network();
  const silent = await silentListener(await gatewayOf(engine, network));
  t.after(() => silent.close());
  const id = await scope.run([
    "--network",
    network,
    "-v",
    `${dir}/webmail:/etc/semail/webmail:ro`,
    "-v",
    `${cert.certFile}:/etc/semail/tls/cert.pem:ro`,
    "-v",
    `${cert.keyFile}:/etc/semail/tls/key.pem:ro`,
    "-e",
    `WEBMAIL_IMAP=${silent.address}`,
    "-e",
    "WEBMAIL_SMTP=semail-outbound:587",
    "-e",
    `WEBMAIL_IMAP_TLS_NAME=${NAME}`,
    "-e",
    `WEBMAIL_SMTP_TLS_NAME=${NAME}`,
    // No health check during the test (tests/services/webmail/image.test.ts runs it): its
    // requests would keep a PHP worker alive, and the idle figure is without one.
    "--health-interval=1h",
    image,
  ]);
  const host = await scope.address(id, network);
  await until(
    () =>
      get(`https://${host}/`, cert.cert).then(
        (a) => a.status === 200,
        () => false,
      ),
    "the login page over HTTPS",
    60_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${await scope.logs(id)}`);
  });

  // HTTPS with the certificate given, checked as a browser would (its name, our CA).
  const page = await get(`https://${host}/`, cert.cert);
  assert.equal(page.status, 200);
  assert.equal(
    page.fingerprint,
    new X509Certificate(cert.cert).fingerprint256,
    "the mounted certificate is the one served",
  );
  assert.match(page.body, /rcmloginuser/);
  assert.doesNotMatch(page.body, /Roundcube Webmail 1\./, "no version on the login page");
  assert.equal(page.headers["strict-transport-security"], "max-age=31536000");
  assert.equal(page.headers.server, "nginx", "no version in the Server header");
  assert.equal(page.headers["x-powered-by"], undefined);
  const cookies = page.headers["set-cookie"] ?? [];
  const session = cookies.find((c) => c.startsWith("semail_webmail="));
  assert.ok(session, `Roundcube's session cookie: ${cookies.join(" | ")}`);
  for (const cookie of cookies) {
    assert.match(cookie, /; secure/i, `Secure: ${cookie}`);
    assert.match(cookie, /; HttpOnly/i, `HttpOnly: ${cookie}`);
  }
  assert.match(session, /; SameSite=Strict/i);

  // The page's own styles and scripts come; PHP, sources and configuration do not.
  const assets = [
    ...page.body.matchAll(/(?:href|src)="((?:skins|program|plugins)\/[^"?]+\.(?:css|js))(?:\?[^"]*)?"/g),
  ].map((m) => m[1]!);
  assert.ok(
    assets.some((a) => a.endsWith(".css")) && assets.some((a) => a.endsWith(".js")),
    `the login page links its assets: ${assets.join(", ")}`,
  );
  for (const asset of new Set(assets))
    assert.equal((await get(`https://${host}/${asset}`, cert.cert)).status, 200, asset);
  for (const hidden of [
    "plugins/virtuser_file/virtuser_file.php",
    "program/include/iniset.php",
    "config/config.inc.php",
    ".htaccess",
    "SQL/sqlite.initial.sql",
  ]) {
    const answer = await get(`https://${host}/${hidden}`, cert.cert);
    assert.equal(answer.status, 404, `${hidden} is not served (${answer.status})`);
    assert.doesNotMatch(answer.body, /<\?php/);
  }

  // Port 80 only sends to HTTPS; no cookie, no page.
  const plain = await get(`http://${host}/?_task=mail`);
  assert.equal(plain.status, 301);
  assert.equal(plain.headers.location, `https://${NAME}/?_task=mail`);
  assert.equal(plain.headers["set-cookie"], undefined);
  assert.doesNotMatch(plain.body, /rcmloginuser/);

  // TLS 1.2 and 1.3, nothing older.
  assert.equal(await handshake(host, "TLSv1.3", cert.cert), "TLSv1.3");
  assert.equal(await handshake(host, "TLSv1.2", cert.cert), "TLSv1.2");
  for (const old of ["TLSv1.1", "TLSv1"] as const) assert.match(await handshake(host, old, cert.cert), /^refused/, old);

  // At most two PHP workers however many requests come at once, all of them as www-data.
  // Six logins hang on a Dovecot that never answers (a listener on the network's gateway):
  // two reach it, one per worker; four wait in php-fpm's queue.
  const initPid = Number(await engine.docker(["inspect", "-f", "{{.State.Pid}}", id]));
  const workers = async () => (await processes(initPid)).filter((p) => p.comm.startsWith("php-fpm") && p.user !== 0);
  const queued = async () =>
    Number(
      (await engine.docker(["exec", id, "ss", "-xlnH", "src", "/run/semail-webmail/php-fpm.sock"]))
        .trim()
        .split(/\s+/)[2],
    );
  const logins = Array.from({ length: 6 }, () => logIn(`https://${host}/`, cert.cert));
  await until(
    async () =>
      silent.firstBytes.length === silent.held.length && silent.held.length + (await queued()) === logins.length,
    "six logins held by the silent Dovecot or queued for a worker",
    60_000,
  );
  assert.equal(silent.held.length, 2, "two logins reach Dovecot, one per PHP worker");
  assert.equal((await workers()).length, 2);
  assert.deepEqual(silent.firstBytes, [0x16, 0x16], "each opens with a TLS handshake: IMAPS, not STARTTLS");
  const owners = await processes(initPid);
  const wwwData = Number((await engine.docker(["exec", id, "id", "-u", "www-data"])).trim());
  assert.ok(owners.filter((p) => p.comm.startsWith("php-fpm") && p.user !== 0).every((p) => p.user === wwwData));
  assert.deepEqual(
    owners
      .filter((p) => p.comm === "nginx")
      .map((p) => p.user)
      .sort(),
    [0, wwwData].sort(),
    "nginx's master as root, its worker as www-data",
  );
  silent.release();
  for (const answer of await Promise.all(logins))
    assert.equal(answer.status, 401, "the login fails, as Dovecot never answered");

  // Memory, from the host: nginx and php-fpm's master, and each PHP worker after serving
  // pages; then idle, once the workers have ended (pm = ondemand, 10 s without a request).
  const measure = async () => {
    const all = (await processes(initPid)).filter((p) => p.comm === "nginx" || p.comm.startsWith("php-fpm"));
    const kib = await pssKiB(all.map((p) => p.pid));
    const line = all
      .map((p, i) => `${p.comm}${p.user === 0 ? " (master)" : ""} ${(kib[i]! / 1024).toFixed(1)}`)
      .join(", ");
    return `${(kib.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} MiB (${line})`;
  };
  t.diagnostic(`webmail image PSS, nginx + php-fpm, after serving pages and six logins: ${await measure()}`);
  await until(async () => (await workers()).length === 0, "the idle PHP workers to end", 30_000);
  t.diagnostic(`webmail image PSS, nginx + php-fpm, idle: ${await measure()}`);
});
