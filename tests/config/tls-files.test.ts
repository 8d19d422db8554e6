// The one reader of the `tls` settings, used by both daemons and the web form.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../../config/settings.ts";
import { readTlsFiles } from "../../config/tls-files.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

test("reads both PEM files, nothing when unset, and names the setting of a missing file", async (t) => {
  const dir = await tempDir(t, "semail-tls-");
  await writeFile(join(dir, "cert.pem"), "CERT");
  await writeFile(join(dir, "key.pem"), "KEY");
  assert.equal(await readTlsFiles({}), undefined);
  assert.deepEqual(await readTlsFiles({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem") }), {
    cert: "CERT",
    key: "KEY",
  });
  await assert.rejects(readTlsFiles({ cert: join(dir, "cert.pem"), key: join(dir, "missing.pem") }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^tls\.key: cannot read .*missing\.pem: ENOENT/);
    return true;
  });
});
