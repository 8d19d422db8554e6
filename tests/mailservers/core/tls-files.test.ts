// The one reader of the `tls` settings, used by both daemons and the web form.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../../config/settings.ts";
import { readTlsFiles } from "../../../mailservers/core/tls-files.ts";

test("reads both PEM files, nothing when unset, and names the setting of a missing file", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "semail-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "cert.pem"), "CERT");
  await writeFile(join(dir, "key.pem"), "KEY");
  assert.equal(await readTlsFiles({}), undefined);
  assert.deepEqual(await readTlsFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem") }), { cert: "CERT", key: "KEY" });
  await assert.rejects(readTlsFiles({ cert: join(dir, "cert.pem"), key: join(dir, "missing.pem") }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^tls\.key: cannot read .*missing\.pem: ENOENT/);
    return true;
  });
});
