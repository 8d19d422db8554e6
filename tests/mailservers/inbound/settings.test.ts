// The inbound settings: RFC-minded defaults, and errors that name the setting.
import assert from "node:assert/strict";
import { it } from "node:test";
import { ConfigError, parseSettings } from "../../../config/settings.ts";
import { inboundLimits } from "../../../mailservers/inbound/daemon.ts";

it("defaults to RFC 5321's limits and names a bad inbound setting", () => {
  const settings = parseSettings({}, "test");
  assert.deepEqual(
    settings.inbound.listen.map((l) => l.spec),
    ["[::]:25", "[::]:587", "[::]:465/tls"],
  );
  const limits = inboundLimits(settings);
  assert.ok(limits.idleTimeoutMs! >= 5 * 60_000, "idle timeout of at least 5 minutes");
  assert.equal(limits.maxRecipients, 100);
  assert.equal(settings.inbound.adminOwner, undefined);
  assert.equal(
    parseSettings({ inbound: { idleTimeout: "10m", adminOwner: "boss" } }, "test").inbound.idleTimeout,
    600_000,
  );
  assert.throws(
    () => parseSettings({ inbound: { adminOwner: "Bad Owner" } }, "test.yaml"),
    (err: unknown) =>
      err instanceof ConfigError && /inbound\.adminOwner: must be a mailbox owner uid/.test(err.message),
  );
  assert.throws(() => parseSettings({ inbound: { maxRecipients: 10 } }, "test.yaml"), /inbound\.maxRecipients/);
  assert.throws(
    () => parseSettings({ inbound: { lockTimeout: "soon" } }, "test.yaml"),
    /inbound\.lockTimeout: "soon" is not a duration/,
  );
});
