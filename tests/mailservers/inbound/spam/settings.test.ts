// inbound.rspamd as the settings file gives it: off unless set, its defaults, a bad value named.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSettings } from "../../../../config/settings.ts";

test("inbound.rspamd: unset by default; set, with its defaults (greylisting off)", () => {
  assert.equal(parseSettings({}, "test.yaml").inbound.rspamd, undefined);
  const { rspamd } = parseSettings({ inbound: { rspamd: { url: "http://127.0.0.1:11333" } } }, "test.yaml").inbound;
  assert.deepEqual(rspamd, { url: "http://127.0.0.1:11333", timeout: 10_000, maxSize: 512 * 1024, greylist: false });
  const tuned = parseSettings(
    {
      inbound: {
        rspamd: { url: "http://rspamd:11333/", rejectScore: "20", junkScore: 5.5, timeout: "3s", maxSize: "1MiB" },
      },
    },
    "test.yaml",
  ).inbound.rspamd;
  assert.deepEqual(tuned, {
    url: "http://rspamd:11333/",
    rejectScore: 20,
    junkScore: 5.5,
    timeout: 3000,
    maxSize: 1024 ** 2,
    greylist: false,
  });
});

test("inbound.rspamd: a bad value is named", () => {
  assert.throws(
    () => parseSettings({ inbound: { rspamd: { url: "https://127.0.0.1:11333" } } }, "test.yaml"),
    /inbound\.rspamd\.url.*http:\/\/ URL of Rspamd's normal worker/s,
  );
  assert.throws(() => parseSettings({ inbound: { rspamd: {} } }, "test.yaml"), /inbound\.rspamd\.url/);
  assert.throws(
    () => parseSettings({ inbound: { rspamd: { url: "http://x:1", rejectScore: "high" } } }, "test.yaml"),
    /inbound\.rspamd\.rejectScore/,
  );
  assert.throws(
    () => parseSettings({ inbound: { rspamd: { url: "http://x:1", greylisting: true } } }, "test.yaml"),
    /inbound\.rspamd/,
  );
});
