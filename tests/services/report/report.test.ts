// `semail report` against real parts: a named serving the zone, a slapd, a certificate, a
// spool and a provisioned mailbox. Healthy, every finding is OK; then each fault the issue
// names is put in and its check says FAIL with a fix: a wrong MX, a DKIM record of another
// key, an expired certificate (the report's clock moved past it), a full mailbox, the
// directory gone. The command prints the same as JSON and exits 1 on a FAIL.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { parseSettings, type Settings } from "../../../config/settings.ts";
import { parseUsersList, serializeUsersList } from "../../../config/users-list.ts";
import type { RunningNamed } from "../../../deploy/local/named.ts";
import { silentLogger } from "../../../lib/logger.ts";
import { startInbound } from "../../../mailservers/inbound/daemon.ts";
import { Spool } from "../../../mailservers/outbound/relay/index.ts";
import { reportText, runReport, type Report } from "../../../services/report/report.ts";
import { provisionRoot } from "../../mailservers/inbound/store/fixture.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { slapdForFile } from "../../helpers/slapd.ts";
import { selfSignedPem } from "../../../testkit/tls.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const run = promisify(execFile);
const APEX = "report.test";
const USERS = `mailboxes:\n  - {owner: ada, address: ada@ada.${APEX}, size: 1MiB}\n`;
const usersList = () => parseUsersList(USERS, { managedDomain: APEX, defaultSize: 1 << 20, minSize: 1 });

const dkim = generateKeyPairSync("rsa", { modulusLength: 2048 });
const publicKey = (key = dkim.publicKey) => key.export({ type: "spki", format: "der" }).toString("base64");

function zone(mx = `mx.${APEX}.`, dkimKey = publicKey()): string {
  return zoneText(APEX, [
    `@ IN MX 10 mx.${APEX}.`,
    `@ IN TXT "v=spf1 mx -all"`,
    "mx IN A 127.0.0.1",
    `ada IN MX 10 ${mx}`,
    `ada IN TXT "v=spf1 mx -all"`,
    `_dmarc IN TXT "v=DMARC1; p=quarantine"`,
    `_mta-sts IN TXT "v=STSv1; id=1"`,
    `_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:postmaster@${APEX}"`,
    `mail._domainkey IN TXT ( "v=DKIM1; k=rsa; p=" ${dkimKey
      .match(/.{1,200}/g)!
      .map((p) => `"${p}"`)
      .join(" ")} )`,
  ]);
}

const slapd = slapdForFile();
let named: RunningNamed;
before(async () => {
  named = await startTestNamed([{ name: APEX, text: zone() }]);
});
after(() => named.stop());

async function world(
  t: Parameters<typeof tempDir>[0],
): Promise<{ settings: Settings; raw: Record<string, unknown>; dir: string }> {
  const dir = await tempDir(t, "semail-report-");
  const pem = await selfSignedPem(`mx.${APEX}`, 90);
  await writeFile(path.join(dir, "cert.pem"), pem.cert);
  await writeFile(path.join(dir, "key.pem"), pem.key);
  await writeFile(path.join(dir, "dkim.pem"), dkim.privateKey.export({ type: "pkcs8", format: "pem" }));
  await writeFile(path.join(dir, "users.yaml"), USERS);
  await provisionRoot(path.join(dir, "mail"), "ada");
  await new Spool(path.join(dir, "spool")).open({ clean: false });
  const raw = {
    managedDomain: APEX,
    users: path.join(dir, "users.yaml"),
    minMailboxSize: 1,
    tls: { cert: path.join(dir, "cert.pem"), key: path.join(dir, "key.pem") },
    ldap: slapd.settings(),
    hostname: `mx.${APEX}`,
    inbound: { listen: ["127.0.0.1:0", "127.0.0.1:0/tls"], mailRoot: path.join(dir, "mail") },
    // Dovecot's ports are tested in ports.test.ts; here the inbound daemon serves the certificate.
    imap: { imapPort: 0, imapsPort: 0, pop3sPort: 0 },
    outbound: {
      spool: path.join(dir, "spool"),
      delivery: {
        resolver: named.server,
        // Loopback only, as local mode (reverse-dns.test.ts checks the PTRs of real addresses).
        localAddresses: [],
        dkim: [{ domain: APEX, selector: "mail", privateKeyFile: path.join(dir, "dkim.pem") }],
      },
    },
    acme: { stateDir: path.join(dir, "acme") },
    // As local mode records it (drift.test.ts shows the record follow the applies).
    report: { appliedUsersFile: path.join(dir, "applied-users.yaml") },
    // A good backup an hour ago (services/report/checks/backup.ts; tested in backup-check.test.ts).
    backup: { repository: path.join(dir, "repo"), passwordFile: path.join(dir, "pw"), stateDir: path.join(dir, "bk") },
    log: { level: "silent" },
  };
  await mkdir(path.join(dir, "bk"));
  await writeFile(
    path.join(dir, "bk", "status.json"),
    JSON.stringify({ outcome: "ok", at: new Date(Date.now() - 3_600_000).toISOString(), snapshot: "1234abcd" }),
  );
  await writeFile(path.join(dir, "applied-users.yaml"), serializeUsersList(usersList().entries));
  // The real inbound daemon serves the certificate on STARTTLS and implicit TLS; the report is told its ports.
  const inbound = await startInbound(parseSettings(raw, "test"), {
    logger: silentLogger(),
    limits: { closeTimeoutMs: 200 },
  });
  t.after(() => inbound.stop());
  raw.inbound.listen = inbound.addresses.map((a) => `127.0.0.1:${a.boundPort}${a.implicitTls ? "/tls" : ""}`);
  await writeFile(path.join(dir, "semail.yaml"), stringify(raw));
  return { settings: parseSettings(raw, "test"), raw, dir };
}

async function report(settings: Settings, now = new Date()): Promise<Report> {
  const { createDirectory } = await import("../../../directory/ldap.ts");
  const directory = createDirectory(settings.ldap);
  const resolver = new Resolver();
  resolver.setServers([named.server]);
  try {
    return await runReport({ settings, users: usersList(), directory, resolver, now });
  } finally {
    await directory.close();
  }
}

const failing = (r: Report) =>
  r.findings.filter((f) => f.status !== "OK").map((f) => `${f.status} ${f.check}: ${f.subject}`);

describe("semail report", () => {
  it("says OK everywhere on a healthy stack", async (t) => {
    const { settings } = await world(t);
    const r = await report(settings);
    assert.deepEqual(failing(r), []);
    assert.equal(r.status, "OK");
    const checks = new Set(r.findings.map((f) => f.check));
    assert.deepEqual([...checks].sort(), [
      "backup",
      "certificate",
      "containers",
      "directory",
      "dns",
      "drift",
      "mailboxes",
      "ports",
      "queue",
      "reverse-dns",
    ]);
    assert.ok(
      r.findings.some((f) => f.subject === `DKIM mail._domainkey.${APEX}`),
      "the DKIM key was compared",
    );
  });

  it("fails the DNS check on a wrong MX and on a DKIM record of another key, naming the fix", async (t) => {
    const { settings } = await world(t);
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    await named.reload([{ name: APEX, text: zone("mx.elsewhere.example.", publicKey(other)) }]);
    t.after(() => named.reload([{ name: APEX, text: zone() }]));
    const r = await report(settings);
    assert.deepEqual(failing(r), [`FAIL dns: MX of ada.${APEX}`, `FAIL dns: DKIM mail._domainkey.${APEX}`]);
    const mx = r.findings.find((f) => f.subject === `MX of ada.${APEX}`)!;
    assert.match(mx.detail, /names mx\.elsewhere\.example, not mx\.report\.test/);
    assert.match(mx.fix!, /publish `ada\.report\.test\. MX 10 mx\.report\.test\.`/);
  });

  it("fails an expired certificate, a full mailbox and a directory that does not answer", async (t) => {
    const { settings, raw, dir } = await world(t);
    await writeFile(path.join(dir, "mail", "ada", "INBOX"), Buffer.alloc(1 << 20, "x"));
    const gone = parseSettings(
      { ...raw, ldap: { ...slapd.settings(), url: "ldap://127.0.0.1:9", timeoutMs: 2000 } },
      "test",
    );
    const r = await report(gone, new Date(Date.now() + 800 * 86_400_000));
    assert.deepEqual(failing(r).sort(), [
      // 800 days on, the last backup is old too.
      `FAIL backup: ${settings.backup.repository}`,
      `FAIL certificate: ${settings.tls.cert}`,
      "FAIL directory: ldap://127.0.0.1:9",
      `FAIL mailboxes: mailbox ada (ada@ada.${APEX})`,
      // The ports serve that same expired certificate.
      ...settings.inbound.listen.map((l) => `FAIL ports: inbound 127.0.0.1:${l.port}`).sort(),
    ]);
    assert.match(
      r.findings.find((f) => f.check === "mailboxes")!.detail,
      /full: 1MiB of 1MiB \(100%\); new mail gets 452 4\.2\.2/,
    );
    assert.match(reportText(r), /^FAIL .*\n {7}fix: /);
  });

  it("warns of a policy host whose own certificate could not be had, and of nothing else", async (t) => {
    const { settings, dir } = await world(t);
    await mkdir(path.join(dir, "acme", "hosts"), { recursive: true });
    const host = (id: string, outcome: string) => ({
      id,
      outcome,
      names: [`mta-sts.${id}.example`],
      served: outcome === "failed" ? [] : [`mta-sts.${id}.example`],
      checkedAt: "2026-12-08T01:00:00.000Z",
      ...(outcome === "failed" ? { error: "no A record for mta-sts.dave.example" } : {}),
    });
    await writeFile(
      path.join(dir, "acme", "hosts", "status.json"),
      JSON.stringify({
        checkedAt: "2026-12-08T01:00:00.000Z",
        changed: false,
        hosts: [host("carol", "issued"), host("dave", "failed")],
      }),
    );
    const r = await report(settings, new Date());
    const warned = r.findings.filter((f) => f.status !== "OK").map((f) => `${f.status} ${f.check}: ${f.subject}`);
    assert.deepEqual(warned, ["WARN certificate: policy host mta-sts.dave.example"]);
    assert.match(
      r.findings.find((f) => f.subject.startsWith("policy host"))!.detail,
      /no A record for mta-sts\.dave\.example/,
    );
  });

  it("`semail report --json` prints the findings and exits 1 on a FAIL", async (t) => {
    const { dir } = await world(t);
    await mkdir(path.join(dir, "mail", "ada"), { recursive: true });
    await writeFile(path.join(dir, "mail", "ada", "INBOX"), Buffer.alloc(1 << 20, "x"));
    const child = run(process.execPath, [
      "bin/semail.mjs",
      "report",
      "--json",
      "--config",
      path.join(dir, "semail.yaml"),
    ]);
    const failed = await child.then(
      () => assert.fail("a full mailbox must make it exit 1"),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(failed.code, 1);
    const printed = JSON.parse(failed.stdout) as Report;
    assert.equal(printed.status, "FAIL");
    assert.deepEqual(failing(printed), [`FAIL mailboxes: mailbox ada (ada@ada.${APEX})`]);
  });
});
