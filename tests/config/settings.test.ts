import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadSettings } from "../../config/settings.ts";
import { tempDir } from "../../testkit/temp-dir.ts";

test("defaults fill every section", async () => {
  const s = await loadSettings(undefined, {});
  assert.equal(s.managedDomain, "semail.test");
  assert.equal(s.defaultMailboxSize, 5 * 1024 ** 3);
  assert.deepEqual(
    s.inbound.listen.map((l) => l.spec),
    ["[::]:25", "[::]:587", "[::]:465/tls"],
  );
});

test("flags override the file, and a bad value names the setting", async (t) => {
  const dir = await tempDir(t, "semail-settings-");
  const file = join(dir, "semail.yaml");
  await writeFile(file, "managedDomain: Example.ORG\ninbound:\n  listen: ['127.0.0.1:25']\n  maxMessageSize: 1MiB\n");
  const s = await loadSettings(file, { "inbound.listen": ["127.0.0.1:2525"] });
  assert.equal(s.managedDomain, "example.org");
  assert.deepEqual(
    s.inbound.listen.map((l) => l.spec),
    ["127.0.0.1:2525"],
  );
  assert.equal(s.inbound.maxMessageSize, 1024 ** 2);

  await writeFile(
    file,
    "inbound:\n  listen: ['nowhere']\n  maxMessageSize: lots\n  greetPassTtl: a while\n  maxConnections: 0\nmanagedDomain: 'bad domain'\ntypo: 1\n",
  );
  await assert.rejects(loadSettings(file), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /inbound\.listen\[0\]: must be ADDR:PORT/);
    assert.match(err.message, /inbound\.maxMessageSize: "lots" is not a size/);
    assert.match(err.message, /inbound\.greetPassTtl: "a while" is not a duration/);
    assert.match(err.message, /inbound\.maxConnections: Too small: expected number to be >=1/);
    assert.match(err.message, /managedDomain: "bad domain" is not a valid domain/);
    assert.match(err.message, /typo/);
    return true;
  });
  await assert.rejects(loadSettings(join(dir, "missing.yaml")), /--config: cannot read/);
});
