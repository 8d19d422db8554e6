// The ports check against the real daemons: the inbound daemon on STARTTLS and implicit TLS
// with certificate A, and Dovecot (services/imap) on 143, 993 and 995. Healthy, each port
// serves tls.cert; with tls.cert naming certificate B (a renewal the daemon was not reloaded
// after) each FAILs with the reload as its fix, until the daemon reloads; a port that should
// listen and does not is a WARN; a certificate without the hostname is a FAIL.
import assert from "node:assert/strict";
import { copyFile, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { startInbound } from "../../../mailservers/inbound/daemon.ts";
import { portFindings } from "../../../services/report/checks/ports.ts";
import { selfSignedCertificate, type TestCertificate } from "../../../testkit/tls.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { provision, usersYaml } from "../../mailservers/inbound/fixture.ts";
import { startImapFixture } from "../../services/imap/fixture.ts";

const HOST = "mx.ports.test";
const NO_IMAP = { imapPort: 0, imapsPort: 0, pop3sPort: 0 };

async function certificate(t: TestContext, name = HOST): Promise<TestCertificate> {
  const cert = await selfSignedCertificate(name, 90);
  t.after(() => cert.cleanup());
  return cert;
}

/** A loopback port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The real inbound daemon on STARTTLS and implicit TLS with `cert`; the report's settings for the same. */
async function inbound(t: TestContext, cert: TestCertificate) {
  const dir = await tempDir(t, "semail-report-ports-");
  const certFile = path.join(dir, "cert.pem");
  await copyFile(cert.certFile, certFile);
  const raw = {
    hostname: HOST,
    managedDomain: "ports.test",
    users: path.join(dir, "users.yaml"),
    minMailboxSize: 1,
    tls: { cert: certFile, key: cert.keyFile },
    inbound: { listen: ["127.0.0.1:0", "127.0.0.1:0/tls"], mailRoot: path.join(dir, "mail") },
    imap: NO_IMAP,
    log: { level: "silent" },
  };
  await writeFile(raw.users, usersYaml([]));
  await provision(raw.inbound.mailRoot, []);
  const daemon = await startInbound(parseSettings(raw, "test"), {
    logger: silentLogger(),
    limits: { closeTimeoutMs: 200 },
  });
  t.after(() => daemon.stop());
  const listen = daemon.addresses.map((a) => `127.0.0.1:${a.boundPort}${a.implicitTls ? "/tls" : ""}`);
  const settings = (over: Record<string, unknown> = {}): Settings =>
    parseSettings({ ...raw, ...over, inbound: { ...raw.inbound, listen } }, "test");
  return { daemon, settings, certFile, listen };
}

const statuses = (findings: Awaited<ReturnType<typeof portFindings>>) =>
  findings.map((f) => `${f.status} ${f.subject}`);

describe("report: ports answering with the right certificate", () => {
  it("is OK when inbound serves tls.cert on STARTTLS and implicit TLS", async (t) => {
    const { settings, listen } = await inbound(t, await certificate(t));
    const found = await portFindings(settings(), new Date());
    assert.deepEqual(
      statuses(found),
      listen.map((l) => `OK inbound ${l.replace("/tls", "")}`),
    );
    assert.match(found[0]!.detail, /serves tls\.cert \(DNS:mx\.ports\.test/);
  });

  it("fails each port serving another certificate than tls.cert, until the daemon reloads", async (t) => {
    const a = await certificate(t);
    const b = await certificate(t);
    const { daemon, settings, certFile } = await inbound(t, a);
    // A renewal wrote B where tls.cert points; the daemon still serves A.
    await copyFile(b.certFile, certFile);
    await copyFile(b.keyFile, a.keyFile);
    const stale = await portFindings(
      settings({ acme: { reload: [["pkill", "-HUP", "-x", "semail-inbound"]] } }),
      new Date(),
    );
    assert.deepEqual(
      stale.map((f) => f.status),
      ["FAIL", "FAIL"],
    );
    assert.match(stale[0]!.detail, /serves another certificate than tls\.cert/);
    assert.equal(stale[0]!.fix, "reload it: pkill -HUP -x semail-inbound");
    assert.equal(await daemon.reloadTls(), true);
    assert.deepEqual(
      (await portFindings(settings(), new Date())).map((f) => f.status),
      ["OK", "OK"],
    );
  });

  it("warns on a port that should listen and does not, and fails a certificate without the hostname", async (t) => {
    const { settings, listen } = await inbound(t, await certificate(t, "other.ports.test"));
    const silent = await closedPort();
    const s = settings();
    const withSilent = parseSettings(
      {
        hostname: HOST,
        tls: { cert: s.tls.cert, key: s.tls.key },
        imap: NO_IMAP,
        inbound: { listen: [...listen, `127.0.0.1:${silent}`] },
      },
      "test",
    );
    const found = await portFindings(withSilent, new Date());
    assert.deepEqual(statuses(found), [
      ...listen.map((l) => `FAIL inbound ${l.replace("/tls", "")}`),
      `WARN inbound 127.0.0.1:${silent}`,
    ]);
    assert.match(found[0]!.detail, /does not name mx\.ports\.test, the name mail clients use/);
    assert.match(found[2]!.detail, /does not answer: ECONNREFUSED/);
    assert.match(found[2]!.fix!, /start the inbound daemon/);
  });

  it("is OK on Dovecot's IMAP STARTTLS, IMAPS and POP3S with tls.cert, and fails them with another", async (t) => {
    const fixture = await startImapFixture(t);
    const other = await certificate(t, "localhost");
    const raw = {
      hostname: "localhost",
      tls: { cert: fixture.cert.certFile, key: fixture.cert.keyFile },
      inbound: { listen: [`127.0.0.1:${await closedPort()}`] },
      imap: {
        listen: ["127.0.0.1"],
        imapPort: fixture.imap.ports.imap,
        imapsPort: fixture.imap.ports.imaps,
        pop3sPort: fixture.imap.ports.pop3s,
      },
    };
    const imap = (found: Awaited<ReturnType<typeof portFindings>>) =>
      statuses(found.filter((f) => !f.subject.startsWith("inbound")));
    const ports = raw.imap;
    assert.deepEqual(imap(await portFindings(parseSettings(raw, "test"), new Date())), [
      `OK IMAP 127.0.0.1:${ports.imapPort}`,
      `OK IMAPS 127.0.0.1:${ports.imapsPort}`,
      `OK POP3S 127.0.0.1:${ports.pop3sPort}`,
    ]);
    const wrong = parseSettings({ ...raw, tls: { cert: other.certFile, key: other.keyFile } }, "test");
    assert.deepEqual(imap(await portFindings(wrong, new Date())), [
      `FAIL IMAP 127.0.0.1:${ports.imapPort}`,
      `FAIL IMAPS 127.0.0.1:${ports.imapsPort}`,
      `FAIL POP3S 127.0.0.1:${ports.pop3sPort}`,
    ]);
  });
});
