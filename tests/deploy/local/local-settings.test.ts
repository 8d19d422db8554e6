// Local mode's first start: lists on, and a forward secret (0600) both daemons read, kept on a second start.
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { prepareDataDir } from "../../../deploy/local/local-settings.ts";
import { readForwardSecret } from "../../../mailservers/core/forward-secret.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("the first start turns mailing lists on and makes the forward secret, owner-only, kept after", async (t) => {
  const dir = await tempDir(t, "semail-local-");
  const { settings } = await prepareDataDir(dir, true);
  assert.equal(settings.inbound.lists.enabled, true);
  assert.equal(settings.outbound.forwardSecretFile, path.join(dir, "forward.secret"));
  const file = settings.outbound.forwardSecretFile!;
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  await readForwardSecret(file);
  const before = await readFile(file, "utf8");
  await prepareDataDir(dir, true);
  assert.equal(await readFile(file, "utf8"), before, "a second start keeps it");
});
