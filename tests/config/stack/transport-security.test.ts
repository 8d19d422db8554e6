// What SEMail publishes for transport security (config/stack/transport-security.ts): the
// MTA-STS policy and its id, TLS-RPT, and the TLSA hash of a key, checked against the openssl
// CLI (a second implementation of SubjectPublicKeyInfo); and the shell line the Pulumi
// program runs on the VM to read those hashes, run here by a real bash and openssl.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  mtaStsFileName,
  mtaStsFiles,
  mtaStsHostNames,
  mtaStsId,
  mtaStsPolicy,
  mtaStsRecord,
  parseTlsaOutput,
  spkiSha256,
  tlsaData,
  tlsaReadCommand,
  tlsRptRecord,
  transportRecordsFor,
} from "../../../config/stack/transport-security.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";

const run = promisify(execFile);

/** The SPKI's SHA-256 as openssl's CLI computes it, from a certificate or (pubin) a public key file. */
async function opensslSpki(file: string, kind: "cert" | "key"): Promise<string> {
  const extract = kind === "cert" ? `openssl x509 -in "$1" -noout -pubkey` : `openssl pkey -in "$1" -pubout`;
  const { stdout } = await run("bash", [
    "-c",
    `set -o pipefail; ${extract} | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r`,
    "spki",
    file,
  ]);
  return stdout.split(" ")[0]!.trim();
}

test("the MTA-STS policy names the one MX, its mode and max_age; its id changes exactly when it does", () => {
  const policy = mtaStsPolicy("semail.email", { mtaStsMode: "enforce", mtaStsMaxAge: 604800 });
  assert.equal(policy, "version: STSv1\r\nmode: enforce\r\nmx: mx.semail.email\r\nmax_age: 604800\r\n");
  const id = mtaStsId(policy);
  assert.match(id, /^[a-zA-Z0-9]{1,32}$/, "RFC 8461: 1 to 32 letters and digits");
  assert.equal(mtaStsRecord(policy), `v=STSv1; id=${id}`);
  assert.equal(mtaStsId(mtaStsPolicy("semail.email", { mtaStsMode: "enforce", mtaStsMaxAge: 604800 })), id);
  const testing = mtaStsPolicy("semail.email", { mtaStsMode: "testing", mtaStsMaxAge: 604800 });
  const shorter = mtaStsPolicy("semail.email", { mtaStsMode: "enforce", mtaStsMaxAge: 86400 });
  assert.notEqual(mtaStsId(testing), id);
  assert.notEqual(mtaStsId(shorter), id);
  assert.match(testing, /^mode: testing\r$/m);
});

test("TLS-RPT reports go to the postmaster unless a rua is set", () => {
  assert.equal(tlsRptRecord("semail.email"), "v=TLSRPTv1; rua=mailto:postmaster@semail.email");
  assert.equal(tlsRptRecord("semail.email", ""), "v=TLSRPTv1; rua=mailto:postmaster@semail.email");
  assert.equal(
    tlsRptRecord("semail.email", "mailto:tls@example.net,https://r.example.net/"),
    "v=TLSRPTv1; rua=mailto:tls@example.net,https://r.example.net/",
  );
});

test("the TLSA hash is the SubjectPublicKeyInfo's SHA-256, as openssl computes it, from a chain, a private or a public key", async (t) => {
  const dir = await tempDir(t, "semail-tlsa-");
  const cert = await selfSignedCertificate("mx.semail.test");
  t.after(() => cert.cleanup());
  const other = await selfSignedCertificate("other.semail.test");
  t.after(() => other.cleanup());
  const fromCert = spkiSha256(cert.cert);
  assert.match(fromCert, /^[0-9a-f]{64}$/);
  assert.equal(fromCert, await opensslSpki(cert.certFile, "cert"));
  assert.equal(spkiSha256(cert.key), fromCert, "the private key has the certificate's public key");
  assert.notEqual(spkiSha256(other.cert), fromCert);
  // A chain: the first certificate is the server's own.
  assert.equal(spkiSha256(`${cert.cert}${other.cert}`), fromCert);
  // An RSA next key, made before its certificate: its private and its public PEM.
  const next = join(dir, "next.pem");
  const nextPub = join(dir, "next.pub.pem");
  await run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", next]);
  await run("openssl", ["pkey", "-in", next, "-pubout", "-out", nextPub]);
  const nextHash = await opensslSpki(next, "key");
  assert.equal(spkiSha256(await readFile(next, "utf8")), nextHash);
  assert.equal(spkiSha256(await readFile(nextPub)), nextHash);
  assert.equal(tlsaData(nextHash.toUpperCase()), `3 1 1 ${nextHash}`);
  assert.throws(() => spkiSha256("not a pem"), /no PEM block found/);
});

test("the VM's shell line prints the current key's hash, then the next key's; a missing file prints nothing", async (t) => {
  const dir = await tempDir(t, "semail-tlsa-");
  const cert = await selfSignedCertificate("mx.semail.test");
  t.after(() => cert.cleanup());
  const next = join(dir, "next key's.pem");
  await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", next]);
  const nextPub = join(dir, "next.pub.pem");
  await run("openssl", ["pkey", "-in", next, "-pubout", "-out", nextPub]);
  const sh = async (line: string) => (await run("sh", ["-c", line])).stdout;

  const both = parseTlsaOutput(await sh(tlsaReadCommand(cert.certFile, next)));
  assert.deepEqual(both, [spkiSha256(cert.cert), spkiSha256(await readFile(next, "utf8"))]);
  assert.deepEqual(parseTlsaOutput(await sh(tlsaReadCommand(cert.certFile, nextPub))), both, "a public next key");
  assert.deepEqual(parseTlsaOutput(await sh(tlsaReadCommand(cert.certFile))), [spkiSha256(cert.cert)]);
  assert.deepEqual(parseTlsaOutput(await sh(tlsaReadCommand(join(dir, "none.pem"), join(dir, "none2.pem")))), []);
  // A file that is no key fails openssl: no hash of nothing is printed, so none published.
  await writeFile(join(dir, "junk.pem"), "junk\n");
  assert.deepEqual(parseTlsaOutput(await sh(tlsaReadCommand(join(dir, "junk.pem")))), []);
  assert.throws(
    () => parseTlsaOutput("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"),
    /not the SHA-256 of a key/,
  );
  assert.throws(() => parseTlsaOutput("openssl: not found\n"), /not the SHA-256 of a key/);
});

test("one policy file per served domain, the managed domain always; and the records an external domain may add", () => {
  const t = { mtaStsMode: "enforce" as const, mtaStsMaxAge: 604800 };
  const files = mtaStsFiles(["alice.semail.email", "example.org", "alice.semail.email"], "semail.email", t);
  assert.deepEqual(Object.keys(files), ["alice.semail.email.txt", "example.org.txt", "semail.email.txt"]);
  assert.ok(Object.values(files).every((p) => p === mtaStsPolicy("semail.email", t)));
  assert.throws(() => mtaStsFileName("../etc"), /not a lowercase domain name/);
  const id = mtaStsId(mtaStsPolicy("semail.email", t));
  assert.deepEqual(transportRecordsFor("example.org", "semail.email", t), [
    `_mta-sts.example.org. IN TXT "v=STSv1; id=${id}"`,
    "mta-sts.example.org. IN CNAME mta-sts.semail.email.",
    '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:postmaster@semail.email"',
  ]);
});

test("the policy hosts a certificate must name: the managed domain's first, then each served domain's", () => {
  assert.deepEqual(mtaStsHostNames(["example.org", "alice.semail.email", "semail.email"], "semail.email"), [
    "mta-sts.semail.email",
    "mta-sts.alice.semail.email",
    "mta-sts.example.org",
  ]);
  assert.deepEqual(mtaStsHostNames([], "semail.email"), ["mta-sts.semail.email"]);
});
