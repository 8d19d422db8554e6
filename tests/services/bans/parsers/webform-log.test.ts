// The web form parser on the lines the real form writes for a refused login and for its
// per-address login limit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../../lib/logger.ts";
import { parseWebformLine } from "../../../../services/bans/parsers/webform-log.ts";
import { Client, startForm } from "../../../webform/helpers.ts";
import { capturedLines } from "../log-capture.ts";

const NOBODY = {
  authenticate: async () => ({ ok: false as const }),
  isAdmin: async () => false,
  close: async () => {},
};

test("a refused login and the login limit each name the client", async (t) => {
  const log = capturedLines();
  const form = await startForm(t, {
    directory: NOBODY,
    logger: createLogger("info", "semail-web", log),
    web: { rateLimit: { loginsPerIp: 2, failuresPerAccount: 100 } },
  });
  const client = new Client(form.url);
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await client.login(`user${i}`, "wrong")).status);
  assert.deepEqual(statuses, [401, 401, 429]);

  const failures = log.lines.map(parseWebformLine).filter((f) => f !== undefined);
  assert.deepEqual(
    failures.map((f) => [f.address, f.reason]),
    [
      ["127.0.0.1", "web login failed"],
      ["127.0.0.1", "web login failed"],
      ["127.0.0.1", "web login limit"],
    ],
  );
});
