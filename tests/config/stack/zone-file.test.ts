// The rendered zone, checked by the real named-checkzone and named-checkconf, and served by a
// real named that dig asks for what mail programs look up (SRV, autoconfig) and what senders
// look up for transport security (MTA-STS, TLS-RPT, the MX's TLSA).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  mailClientRecords,
  mailClientRecordsFor,
  mailboxSubdomains,
  mxRecordFor,
  nextSerial,
  renderNamedConfStanza,
  renderZone,
  txtData,
  zoneRecords,
  type ZoneInput,
} from "../../../config/stack/zone-file.ts";
import { STANDARD_MAIL_CLIENT_PORTS } from "../../../config/mail-clients.ts";
import {
  DEFAULT_TRANSPORT_SECURITY,
  mtaStsId,
  mtaStsPolicy,
  spkiSha256,
} from "../../../config/stack/transport-security.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";
import { startTestNamed, zoneText } from "../../helpers/named.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

const run = promisify(execFile);
const DKIM = `MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA${"x".repeat(300)}IDAQAB`;
const INPUT: ZoneInput = {
  domain: "semail.email",
  serial: 2026112401,
  ipv4: "192.0.2.25",
  ipv6: "2001:db8::25",
  mailboxDomains: ["semail.email", "alice.semail.email", "alice.semail.email", "bob.semail.email", "example.org"],
  dkim: [{ selector: "mail", publicKey: DKIM }],
};

async function withTemp(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await tempDir(t, "semail-zone-");
  return dir;
}

/** Records as named reads them, one per line, canonical form. */
async function checkZone(dir: string, text: string): Promise<string> {
  const file = join(dir, "db.semail.email");
  await writeFile(file, text);
  const { stdout } = await run("named-checkzone", [
    "-k",
    "fail",
    "-m",
    "fail",
    "-M",
    "fail",
    "-n",
    "fail",
    "-D",
    "-o",
    "-",
    "semail.email",
    file,
  ]);
  return stdout;
}

test("the rendered zone passes named-checkzone with every record in place", async (t) => {
  const dir = await withTemp(t);
  const records = await checkZone(dir, renderZone(INPUT));
  const has = (pattern: RegExp) => assert.match(records, pattern);
  has(
    /^semail\.email\.\s+3600\s+IN SOA\s+ns\.semail\.email\. hostmaster\.semail\.email\. 2026112401 3600 900 1209600 300$/m,
  );
  has(/^semail\.email\.\s+3600\s+IN NS\s+ns\.semail\.email\.$/m);
  has(/^semail\.email\.\s+3600\s+IN MX\s+10 mx\.semail\.email\.$/m);
  has(/^alice\.semail\.email\.\s+3600\s+IN MX\s+10 mx\.semail\.email\.$/m);
  has(/^bob\.semail\.email\.\s+3600\s+IN MX\s+10 mx\.semail\.email\.$/m);
  has(/^mx\.semail\.email\.\s+3600\s+IN A\s+192\.0\.2\.25$/m);
  has(/^ns\.semail\.email\.\s+3600\s+IN AAAA\s+2001:db8::25$/m);
  has(/^semail\.email\.\s+3600\s+IN TXT\s+"v=spf1 mx -all"$/m);
  has(
    /^_dmarc\.semail\.email\.\s+3600\s+IN TXT\s+"v=DMARC1; p=quarantine; sp=quarantine; rua=mailto:postmaster@semail\.email"$/m,
  );
  // The DKIM key is longer than one TXT string: split, and whole again when joined.
  const dkim = /^mail\._domainkey\.semail\.email\.\s+3600\s+IN TXT\s+(.+)$/m.exec(records);
  assert.ok(dkim, "a DKIM record");
  assert.equal(
    dkim[1]!
      .split(/" "/)
      .map((s) => s.replace(/"/g, ""))
      .join(""),
    `v=DKIM1; k=rsa; p=${DKIM}`,
  );
  assert.equal(records.match(/IN MX/g)?.length, 3, "apex, alice and bob; none for the external domain");
});

test("mail programs' records: RFC 6186 SRV for the apex and each mailbox subdomain, autoconfig on the web form's host", async (t) => {
  const dir = await withTemp(t);
  const records = await checkZone(dir, renderZone(INPUT));
  /** One record, as named-checkzone prints it: `name ttl IN type rdata`. */
  const has = (name: string, type: string, rdata: string) => {
    const line = `${name}. 3600 IN ${type} ${rdata}`;
    assert.ok(
      records.split("\n").some((l) => l.split(/\s+/).join(" ") === line),
      line,
    );
  };
  for (const at of ["", "alice.", "bob."]) {
    has(`_submissions._tcp.${at}semail.email`, "SRV", "0 1 465 mx.semail.email.");
    has(`_submission._tcp.${at}semail.email`, "SRV", "10 1 587 mx.semail.email.");
    has(`_imaps._tcp.${at}semail.email`, "SRV", "0 1 993 mx.semail.email.");
    has(`_imap._tcp.${at}semail.email`, "SRV", "10 1 143 mx.semail.email.");
    has(`_pop3s._tcp.${at}semail.email`, "SRV", "0 1 995 mx.semail.email.");
    // No plain POP3: the target "." says the service is not offered (RFC 6186 section 4).
    has(`_pop3._tcp.${at}semail.email`, "SRV", "0 0 0 .");
  }
  assert.match(records, /^autoconfig\.semail\.email\.\s+3600\s+IN A\s+192\.0\.2\.25$/m);
  assert.match(records, /^autoconfig\.semail\.email\.\s+3600\s+IN AAAA\s+2001:db8::25$/m);
  assert.match(records, /^autoconfig\.alice\.semail\.email\.\s+3600\s+IN CNAME\s+autoconfig\.semail\.email\.$/m);
  assert.equal(records.match(/IN SRV/g)?.length, 18, "apex, alice and bob; none for the external domain");
  assert.doesNotMatch(records, /example\.org/);
});

test("a real named answers dig with the SRV records and autoconfig of a mailbox subdomain, on the ports given", async (t) => {
  const ports = { imap: 0, imaps: 1993, pop3s: 1995, submission: 2587, submissions: 2465 };
  const named = await startTestNamed([
    { name: "semail.email", text: renderZone({ ...INPUT, mailClientPorts: ports }) },
  ]);
  t.after(() => named.stop());
  const dig = async (name: string, type: string) =>
    (
      await run("dig", [
        "@127.0.0.1",
        "-p",
        String(named.port),
        "+norecurse",
        "+short",
        "+time=5",
        "+tries=2",
        name,
        type,
      ])
    ).stdout
      .trim()
      .split("\n")
      .sort();
  assert.deepEqual(await dig("_imaps._tcp.alice.semail.email", "SRV"), ["0 1 1993 mx.semail.email."]);
  assert.deepEqual(await dig("_submissions._tcp.alice.semail.email", "SRV"), ["0 1 2465 mx.semail.email."]);
  assert.deepEqual(await dig("_submission._tcp.alice.semail.email", "SRV"), ["10 1 2587 mx.semail.email."]);
  assert.deepEqual(await dig("_pop3s._tcp.semail.email", "SRV"), ["0 1 1995 mx.semail.email."]);
  assert.deepEqual(await dig("_imap._tcp.alice.semail.email", "SRV"), ["0 0 0 ."], "a port 0 is a service not offered");
  // The alias and the address it leads to, in one answer.
  assert.deepEqual(await dig("autoconfig.alice.semail.email", "A"), ["192.0.2.25", "autoconfig.semail.email."]);
  assert.deepEqual(await dig("autoconfig.semail.email", "AAAA"), ["2001:db8::25"]);
  assert.deepEqual(await dig("_imaps._tcp.example.org", "SRV"), [""], "nothing for a domain the zone does not hold");
});

test("the optional records an external domain's owner is shown load into that domain's zone as they are", async (t) => {
  const lines = mailClientRecordsFor("example.org", "semail.email");
  assert.deepEqual(lines, [
    "_submissions._tcp.example.org. IN SRV 0 1 465 mx.semail.email.",
    "_submission._tcp.example.org. IN SRV 10 1 587 mx.semail.email.",
    "_imaps._tcp.example.org. IN SRV 0 1 993 mx.semail.email.",
    "_imap._tcp.example.org. IN SRV 10 1 143 mx.semail.email.",
    "_pop3s._tcp.example.org. IN SRV 0 1 995 mx.semail.email.",
    "_pop3._tcp.example.org. IN SRV 0 0 0 .",
    "autoconfig.example.org. IN CNAME autoconfig.semail.email.",
  ]);
  const dir = await withTemp(t);
  const file = join(dir, "db.example.org");
  await writeFile(file, zoneText("example.org", lines));
  const { stdout } = await run("named-checkzone", ["-k", "fail", "-n", "ignore", "-D", "-o", "-", "example.org", file]);
  assert.equal(stdout.match(/IN SRV/g)?.length, 6);
  assert.match(stdout, /^autoconfig\.example\.org\.\s+60\s+IN CNAME\s+autoconfig\.semail\.email\.$/m);
  assert.match(
    mailClientRecordsFor("example.org", "semail.email", "mail.example.net", {
      ...STANDARD_MAIL_CLIENT_PORTS,
      imap: 0,
    })[3]!,
    /^_imap\._tcp\.example\.org\. IN SRV 0 0 0 \.$/,
  );
});

test("a hand-written mailbox on autoconfig.<label> keeps its own records, with no alias over them", async (t) => {
  const dir = await withTemp(t);
  const records = await checkZone(
    dir,
    renderZone({ ...INPUT, mailboxDomains: ["alice.semail.email", "autoconfig.alice.semail.email"] }),
  );
  assert.match(records, /^autoconfig\.alice\.semail\.email\.\s+3600\s+IN MX\s+10 mx\.semail\.email\.$/m);
  assert.doesNotMatch(records, /^autoconfig\.alice\.semail\.email\.\s+\d+\s+IN CNAME/m);
  assert.equal(mailClientRecords("alice", "semail.email").find((r) => r.type === "CNAME")?.name, "autoconfig.alice");
});

test("without keys or IPv6 there is no DKIM or AAAA record, and the zone still passes", async (t) => {
  const dir = await withTemp(t);
  const records = await checkZone(dir, renderZone({ ...INPUT, ipv6: undefined, dkim: [], mailboxDomains: [] }));
  assert.doesNotMatch(records, /_domainkey|AAAA/);
  assert.equal(records.match(/IN MX/g)?.length, 1);
  assert.equal(records.match(/IN SRV/g)?.length, 6, "the managed domain's own, always");
});

test("named-checkzone does refuse a broken zone (the check above can fail)", async (t) => {
  const dir = await withTemp(t);
  const broken = renderZone(INPUT)
    .replace(/^mx .* IN A .*$/m, "")
    .replace(/^mx .* IN AAAA .*$/m, "");
  await assert.rejects(checkZone(dir, broken), /has no address records/);
});

test("the named.conf stanza loads the zone (named-checkconf -z)", async (t) => {
  const dir = await withTemp(t);
  await writeFile(join(dir, "db.semail.email"), renderZone(INPUT));
  await writeFile(
    join(dir, "named.conf"),
    `options { directory "${dir}"; };\n${renderNamedConfStanza("semail.email", join(dir, "db.semail.email"))}`,
  );
  const { stdout } = await run("named-checkconf", ["-z", join(dir, "named.conf")]);
  assert.match(stdout, /zone semail\.email\/IN: loaded serial 2026112401/);
});

test("the serial always increases and reads as a date", () => {
  const day = new Date("2026-11-24T12:00:00Z");
  assert.equal(nextSerial(undefined, day), 2026112400);
  assert.equal(nextSerial(2026112400, day), 2026112401);
  assert.equal(nextSerial(2026112499, day), 2026112500, "past 99 changes in a day it runs ahead of the date");
  assert.equal(nextSerial(2020010100, day), 2026112400);
  let serial = 0;
  for (let i = 0; i < 150; i++) {
    const next = nextSerial(serial, day);
    assert.ok(next > serial);
    serial = next;
  }
  assert.throws(() => nextSerial(4294967295, day), /exceeds 32 bits/);
});

test("helpers: subdomains, TXT splitting, MX lines, records without subdomain MX", () => {
  assert.deepEqual(
    mailboxSubdomains("semail.email", [
      "b.semail.email",
      "a.semail.email",
      "b.semail.email",
      "semail.email",
      "xsemail.email",
    ]),
    ["a", "b"],
  );
  assert.equal(txtData('say "hi"'), '"say \\"hi\\""');
  assert.equal(txtData("x".repeat(300)), `"${"x".repeat(255)}" "${"x".repeat(45)}"`);
  assert.equal(mxRecordFor("example.org", "semail.email"), "example.org. 3600 IN MX 10 mx.semail.email.");
  assert.ok(!zoneRecords(INPUT, { withSubdomainMx: false }).some((r) => r.name === "alice"));
});

test("MTA-STS, TLS-RPT and the MX's TLSA: on the apex and each mailbox subdomain, passing named-checkzone", async (t) => {
  const dir = await withTemp(t);
  const current = "a".repeat(64);
  const next = "B".repeat(64);
  const transport = { mtaStsMode: "testing" as const, mtaStsMaxAge: 86400, tlsa: [current, next] };
  const records = await checkZone(dir, renderZone({ ...INPUT, transport }));
  const id = mtaStsId(mtaStsPolicy("semail.email", transport));
  const has = (name: string, type: string, rdata: string) => {
    const line = `${name}. 3600 IN ${type} ${rdata}`;
    assert.ok(
      records.split("\n").some((l) => l.split(/\s+/).join(" ") === line),
      `${line} in\n${records}`,
    );
  };
  for (const at of ["", "alice.", "bob."]) {
    has(`_mta-sts.${at}semail.email`, "TXT", `"v=STSv1; id=${id}"`);
    has(`_smtp._tls.${at}semail.email`, "TXT", '"v=TLSRPTv1; rua=mailto:postmaster@semail.email"');
  }
  has("mta-sts.semail.email", "A", "192.0.2.25");
  has("mta-sts.semail.email", "AAAA", "2001:db8::25");
  has("mta-sts.alice.semail.email", "CNAME", "mta-sts.semail.email.");
  // named prints the hex in upper case, maybe in groups: joined and lowered, the current key's, then the next's.
  const tlsa = records
    .split("\n")
    .filter((l) => /^_25\._tcp\.mx\.semail\.email\.\s+3600\s+IN TLSA\s+3 1 1 /.test(l))
    .map((l) => l.split(/\s+/).slice(7).join("").toLowerCase())
    .sort();
  assert.deepEqual(tlsa, [current, next.toLowerCase()]);
  assert.doesNotMatch(records, /example\.org/, "an external domain's records are its owner's to add");
  // A rua of the operator's, and no TLSA when no key is known.
  const other = await checkZone(
    dir,
    renderZone({ ...INPUT, transport: { ...transport, tlsa: [], tlsRptRua: "mailto:tls@example.net" } }),
  );
  assert.doesNotMatch(other, /TLSA/);
  assert.match(other, /^_smtp\._tls\.semail\.email\.\s+3600\s+IN TXT\s+"v=TLSRPTv1; rua=mailto:tls@example\.net"$/m);
  // Left to the mailboxes at a hosted DNS provider, as their MX is.
  assert.ok(!zoneRecords(INPUT, { withSubdomainMx: false }).some((r) => r.name.endsWith(".alice")));
});

test("dig on the rendered zone shows MTA-STS, TLS-RPT and the TLSA of the MX certificate's key, as openssl hashes it", async (t) => {
  const cert = await selfSignedCertificate("mx.semail.email");
  t.after(() => cert.cleanup());
  // The SubjectPublicKeyInfo's SHA-256 by the openssl CLI, apart from the code under test.
  const { stdout: openssl } = await run("bash", [
    "-c",
    'set -o pipefail; openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r',
    "spki",
    cert.certFile,
  ]);
  const expected = openssl.split(" ")[0]!.trim();
  const transport = { ...DEFAULT_TRANSPORT_SECURITY, tlsa: [spkiSha256(await readFile(cert.certFile))] };
  const named = await startTestNamed([{ name: "semail.email", text: renderZone({ ...INPUT, transport }) }]);
  t.after(() => named.stop());
  const dig = async (name: string, type: string) =>
    (
      await run("dig", [
        "@127.0.0.1",
        "-p",
        String(named.port),
        "+norecurse",
        "+short",
        "+time=5",
        "+tries=2",
        name,
        type,
      ])
    ).stdout
      .trim()
      .split("\n")
      .sort();
  const id = mtaStsId(mtaStsPolicy("semail.email", DEFAULT_TRANSPORT_SECURITY));
  assert.deepEqual(await dig("_mta-sts.semail.email", "TXT"), [`"v=STSv1; id=${id}"`]);
  assert.deepEqual(await dig("_mta-sts.alice.semail.email", "TXT"), [`"v=STSv1; id=${id}"`]);
  assert.deepEqual(await dig("_smtp._tls.bob.semail.email", "TXT"), [
    '"v=TLSRPTv1; rua=mailto:postmaster@semail.email"',
  ]);
  assert.deepEqual(await dig("mta-sts.alice.semail.email", "A"), ["192.0.2.25", "mta-sts.semail.email."]);
  const tlsa = await dig("_25._tcp.mx.semail.email", "TLSA");
  assert.equal(tlsa.length, 1);
  // dig prints long hex in groups: joined, it is openssl's hash.
  const [usage, selector, matching, ...hex] = tlsa[0]!.split(" ");
  assert.deepEqual([usage, selector, matching], ["3", "1", "1"]);
  assert.equal(hex.join("").toLowerCase(), expected);
});
