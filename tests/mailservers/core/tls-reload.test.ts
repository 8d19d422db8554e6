// A new certificate handed to running listeners (reloadListenerTls): new handshakes, implicit
// TLS and STARTTLS alike, get it; a session opened before goes on; a key that is not the
// certificate's, or a file that cannot be read, keeps the certificate in use.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { test } from "node:test";
import { silentLogger } from "../../../lib/logger.ts";
import { parseListenSpec } from "../../../lib/listen-spec.ts";
import { createSmtpFrontEnd, listenSmtp, reloadListenerTls } from "../../../mailservers/core/index.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { until } from "../../../testkit/until.ts";

/** The serial of the certificate a new implicit-TLS handshake on `port` shows, and the socket. */
async function handshake(port: number): Promise<{ serial: string; socket: TLSSocket }> {
  const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
  return { serial: socket.getPeerX509Certificate()!.serialNumber, socket };
}

test("reloadListenerTls: new sessions get the new certificate, open ones go on, a bad pair keeps the old", async (t) => {
  const dir = await tempDir(t, "semail-tls-reload-");
  const [a, b, c] = [await selfSignedCertificate(), await selfSignedCertificate(), await selfSignedCertificate()];
  t.after(() => Promise.all([a.cleanup(), b.cleanup(), c.cleanup()]));
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  await copyFile(a.certFile, files.cert);
  await copyFile(a.keyFile, files.key);
  const frontEnd = createSmtpFrontEnd({
    backend: {
      checkSender: async () => undefined,
      checkRecipient: async () => undefined,
      deliver: async () => "ok",
    },
    logger: silentLogger(),
    hostname: "mx.test",
    maxMessageSize: 1024,
    tls: { cert: a.cert, key: a.key },
    limits: { closeTimeoutMs: 200 },
  });
  const listening = await listenSmtp(frontEnd, [parseListenSpec("127.0.0.1:0/tls")]);
  t.after(() => listening.close());
  const port = listening.addresses[0]!.boundPort;
  const serial = (pem: string) => new X509Certificate(pem).serialNumber;

  const before = await handshake(port);
  t.after(() => before.socket.destroy());
  assert.equal(before.serial, serial(a.cert));
  let text = "";
  before.socket.on("data", (d: Buffer) => (text += d.toString()));
  await until(() => /^220 /m.test(text), "the greeting on the first session");

  await copyFile(b.certFile, files.cert);
  await copyFile(b.keyFile, files.key);
  assert.equal(await reloadListenerTls(listening, files, true, silentLogger()), true);
  const after = await handshake(port);
  after.socket.destroy();
  assert.equal(after.serial, serial(b.cert));
  // The session from before the reload still answers.
  before.socket.write("NOOP\r\n");
  await until(() => /^250 /m.test(text), "250 to NOOP on the session opened before the reload");

  // C's certificate with B's key: refused before any listener sees it.
  await copyFile(c.certFile, files.cert);
  assert.equal(await reloadListenerTls(listening, files, true, silentLogger()), false);
  await writeFile(files.cert, "not a certificate");
  assert.equal(await reloadListenerTls(listening, files, true, silentLogger()), false);
  assert.equal(
    await reloadListenerTls(listening, { ...files, cert: join(dir, "missing.pem") }, true, silentLogger()),
    false,
  );
  const still = await handshake(port);
  still.socket.destroy();
  assert.equal(still.serial, serial(b.cert));
  // Started without a certificate: nothing to reload into.
  assert.equal(await reloadListenerTls(listening, files, false, silentLogger()), false);
});
