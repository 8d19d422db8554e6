// `semail report`'s traffic flags: a bad one stops the command before any check runs, saying why.
import assert from "node:assert/strict";
import { test } from "node:test";
import { trafficRequest } from "../../cli/report-traffic.ts";
import { ConfigError } from "../../config/settings.ts";

test("--summary takes --since as a duration and needs a --log; without --summary there is no request", () => {
  assert.deepEqual(trafficRequest({ summary: true, since: "7d", log: ["a.log"] }), {
    sources: ["a.log"],
    window: 7 * 86_400_000,
  });
  assert.deepEqual(trafficRequest({ summary: true, log: ["-"] }), { sources: ["-"], window: 86_400_000 });
  assert.equal(trafficRequest({}), undefined);
  assert.throws(
    () => trafficRequest({ summary: true, since: "yesterday", log: ["a.log"] }),
    (err: unknown) =>
      err instanceof ConfigError && /^--since yesterday: give a duration such as 24h or 7d$/.test(err.message),
  );
  assert.throws(
    () => trafficRequest({ summary: true }),
    (err: unknown) =>
      err instanceof ConfigError && /^--summary needs --log: --log docker:semail-inbound/.test(err.message),
  );
});
