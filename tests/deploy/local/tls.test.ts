// Local mode's settings as the inbound daemon runs them: the certificate made once for it and
// Dovecot, and with it AUTH on the two submission listeners (587's and 465's roles), never on
// the MX port, handing mail to outbound's submission on loopback.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { parseSettings } from "../../../config/settings.ts";
import { handoffTarget, submissionListeners } from "../../../mailservers/inbound/submission-settings.ts";
import { DEFAULT_PORTS, localSettingsYaml } from "../../../deploy/local/defaults.ts";
import { localMailClients } from "../../../deploy/local/mail-clients.ts";
import { withLocalCertificate } from "../../../deploy/local/tls.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("local mode's inbound gets the local certificate, and mail programs its two submission ports", async (t) => {
  const dir = await tempDir(t, "semail-local-tls-");
  const settings = parseSettings(parse(localSettingsYaml(dir, DEFAULT_PORTS, "dc=semail,dc=test")), "local");
  assert.deepEqual(
    localMailClients(settings, false).ports,
    { imap: 0, imaps: 0, pop3s: 0, submission: 0, submissions: 0 },
    "without a certificate no AUTH is offered",
  );

  const withTls = await withLocalCertificate(settings, dir);
  assert.deepEqual(withTls.tls, { cert: join(dir, "tls", "cert.pem"), key: join(dir, "tls", "key.pem") });
  const cert = new X509Certificate(await readFile(withTls.tls.cert!));
  assert.ok(cert.checkHost("mx.semail.test") && cert.checkIP("127.0.0.1"), String(cert.subjectAltName));
  assert.deepEqual(localMailClients(withTls, false).ports, {
    imap: 0,
    imaps: 0,
    pop3s: 0,
    submission: DEFAULT_PORTS.inboundSubmission,
    submissions: DEFAULT_PORTS.inboundSubmissions,
  });

  const auth = submissionListeners(withTls).map((l) => l.spec);
  assert.deepEqual(
    auth.filter((spec) => spec.startsWith("127.0.0.1:")),
    [`127.0.0.1:${DEFAULT_PORTS.inboundSubmission}`, `127.0.0.1:${DEFAULT_PORTS.inboundSubmissions}/tls`],
  );
  assert.ok(!auth.some((spec) => spec.endsWith(`:${DEFAULT_PORTS.inbound}`)), "the MX port offers no AUTH");
  assert.deepEqual(
    await handoffTarget(withTls),
    { host: "127.0.0.1", port: DEFAULT_PORTS.submission },
    "plain to outbound's submission on loopback",
  );
});

test("a certificate the settings name is kept, and the local one is made once", async (t) => {
  const dir = await tempDir(t, "semail-local-tls-");
  const settings = parseSettings(parse(localSettingsYaml(dir, DEFAULT_PORTS, "dc=semail,dc=test")), "local");
  const own = { ...settings, tls: { cert: "/etc/ssl/own.pem", key: "/etc/ssl/own.key" } };
  assert.equal(await withLocalCertificate(own, dir), own);
  const first = await readFile((await withLocalCertificate(settings, dir)).tls.cert!, "utf8");
  assert.equal(
    await readFile((await withLocalCertificate(settings, dir)).tls.cert!, "utf8"),
    first,
    "a second start reuses it",
  );
});
