// ldaps:// and StartTLS against slapd with a self-signed certificate: trusted through ldap.caFile, refused without it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createDirectory } from "../../directory/ldap.ts";
import { DirectoryUnavailableError } from "../../config/directory.ts";
import { startTestSlapd, type TestSlapd } from "../helpers/slapd.ts";
import { selfSignedCertificate, type TestCertificate } from "../../testkit/tls.ts";

describe("LDAP directory over TLS", () => {
  let slapd: TestSlapd;
  let certificate: TestCertificate;
  let caFile: string;
  before(async () => {
    certificate = await selfSignedCertificate();
    caFile = certificate.certFile;
    slapd = await startTestSlapd({ tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } });
  });
  after(async () => {
    await slapd?.stop();
    await certificate?.cleanup();
  });

  it("logs in over ldaps:// when the CA file trusts the server", async () => {
    assert.ok(slapd.ldapsUrl);
    const directory = createDirectory(slapd.settings({ url: slapd.ldapsUrl, caFile }));
    assert.equal((await directory.authenticate("alice", "alice-Secret1")).ok, true);
    assert.deepEqual(await directory.authenticate("alice", "wrong"), { ok: false });
    assert.equal(await directory.isAdmin("admin"), true);
  });

  it("logs in with StartTLS when the CA file trusts the server", async () => {
    const directory = createDirectory(slapd.settings({ startTls: true, caFile }));
    assert.equal((await directory.authenticate("alice", "alice-Secret1")).ok, true);
    assert.equal(await directory.isAdmin("alice"), false);
  });

  it("refuses an untrusted certificate as an outage, before sending the password", async () => {
    for (const overrides of [{ url: slapd.ldapsUrl! }, { startTls: true }]) {
      const directory = createDirectory(slapd.settings(overrides));
      await assert.rejects(directory.authenticate("alice", "alice-Secret1"), (err: unknown) => {
        assert.ok(err instanceof DirectoryUnavailableError, String(err));
        assert.match(err.message, /self[- ]signed|certificate/i);
        return true;
      });
    }
  });

  it("refuses startTls with an ldaps:// URL at creation", () => {
    assert.throws(() => createDirectory(slapd.settings({ url: slapd.ldapsUrl!, startTls: true })), /ldap\.startTls/);
  });
});
