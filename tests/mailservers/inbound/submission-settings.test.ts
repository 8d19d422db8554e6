// Which of inbound's listeners offer AUTH, and how it reaches outbound: defaults, and
// refusals that name the setting.
import assert from "node:assert/strict";
import { it } from "node:test";
import { ConfigError, parseSettings } from "../../../config/settings.ts";
import { handoffTarget, submissionListeners } from "../../../mailservers/inbound/submission-settings.ts";
import { selfSignedCertificate } from "../../../testkit/tls.ts";

const settings = (inbound: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
  parseSettings({ hostname: "mx.example.org", ...top, inbound }, "test.yaml");
const refused = (pattern: RegExp) => (err: unknown) => err instanceof ConfigError && pattern.test(err.message);

it("offers AUTH on the 587 and 465 listeners by default, never on 25, and only on listeners that exist", () => {
  assert.deepEqual(
    submissionListeners(settings()).map((l) => l.spec),
    ["[::]:587", "[::]:465/tls"],
  );
  assert.deepEqual(
    submissionListeners(settings({ listen: ["127.0.0.1:2525"] })).map((l) => l.spec),
    [],
  );
  const chosen = { listen: ["127.0.0.1:2525", "127.0.0.1:2587"], submission: { listen: ["127.0.0.1:2587"] } };
  assert.deepEqual(
    submissionListeners(settings(chosen)).map((l) => l.spec),
    ["127.0.0.1:2587"],
  );
  assert.throws(
    () => submissionListeners(settings({ submission: { listen: ["127.0.0.1:2587"] } })),
    refused(
      /^inbound\.submission\.listen: "127\.0\.0\.1:2587" is not one of inbound\.listen \(\[::\]:25, \[::\]:587, \[::\]:465\/tls\)/,
    ),
  );
  assert.throws(
    () => submissionListeners(settings({ submission: { listen: ["[::]:25"] } })),
    refused(/^inbound\.submission\.listen: "\[::\]:25" is port 25, where mail servers deliver/),
  );
});

it("reaches outbound in clear on loopback only; elsewhere over STARTTLS checked against tls.cert or outboundCaFile", async (t) => {
  assert.deepEqual(await handoffTarget(settings()), { host: "127.0.0.1", port: 587 });
  assert.deepEqual(await handoffTarget(settings({ submission: { outbound: "[::1]:2587" } })), {
    host: "::1",
    port: 2587,
  });
  assert.deepEqual(await handoffTarget(settings({ submission: { outbound: "localhost:2587" } })), {
    host: "localhost",
    port: 2587,
  });

  await assert.rejects(
    handoffTarget(settings({ submission: { outbound: "semail-outbound:587" } })),
    refused(
      /^inbound\.submission\.outbound: semail-outbound:587 is not on loopback, so the users' logins would cross a network: set inbound\.submission\.outboundCaFile/,
    ),
  );
  const cert = await selfSignedCertificate("mx.example.org");
  t.after(() => cert.cleanup());
  const shared = await handoffTarget(
    settings({ submission: { outbound: "semail-outbound:587" } }, { tls: { cert: cert.certFile, key: cert.keyFile } }),
  );
  assert.deepEqual(
    { ...shared, tls: { ...shared.tls!, ca: shared.tls!.ca.toString() } },
    { host: "semail-outbound", port: 587, tls: { ca: cert.cert, servername: "mx.example.org" } },
  );
  const own = await handoffTarget(
    settings({
      submission: { outbound: "10.0.0.2:587", outboundCaFile: cert.certFile, outboundTlsName: "outbound.internal" },
    }),
  );
  assert.equal(own.tls?.servername, "outbound.internal");
  await assert.rejects(
    handoffTarget(settings({ submission: { outbound: "10.0.0.2:587", outboundCaFile: "/nonexistent/ca.pem" } })),
    refused(/^inbound\.submission\.outboundCaFile: cannot read \/nonexistent\/ca\.pem/),
  );
});

it("names a malformed outbound address", () => {
  assert.throws(
    () => settings({ submission: { outbound: "semail-outbound" } }),
    refused(/inbound\.submission\.outbound: must be HOST:PORT/),
  );
  assert.throws(() => settings({ submission: { outbound: "x:587", typo: 1 } }), refused(/inbound\.submission/));
});
