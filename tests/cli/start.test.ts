// `semail start` before it starts anything: the install hint and its refusals.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { createServer, type AddressInfo } from "node:net";
import { missingPackages } from "../../cli/local-packages.ts";
import { DEFAULT_PORTS, localSettingsYaml, type LocalPorts } from "../../deploy/local/defaults.ts";
import { freeLoopbackPort } from "../../deploy/local/ports.ts";
import { tempDir } from "../../testkit/temp-dir.ts";
import { needsRoot } from "../../testkit/needs-root.ts";

const run = promisify(execFile);
const SEMAIL = join(import.meta.dirname, "../../bin/semail.mjs");

/** Every part of local mode on one port (the check stops at the first busy one it names). */
const everyPortAt = (port: number) =>
  Object.fromEntries(Object.keys(DEFAULT_PORTS).map((part) => [part, port])) as unknown as LocalPorts;

test("a missing program names the Debian package to install", async () => {
  const programs = [
    ["/usr/bin/env", "coreutils", false],
    ["/nonexistent/slapd", "slapd", false],
    ["/nonexistent/mkfs.ext4", "e2fsprogs", true],
  ] as const;
  assert.deepEqual(await missingPackages(false, programs), ["slapd"]);
  assert.deepEqual(await missingPackages(true, programs), ["slapd", "e2fsprogs"]);
  assert.deepEqual(await missingPackages(true), [], "CI installs everything local mode needs");
});

test("--config is refused, before any file is read, with the place the settings live", async () => {
  const err = await run(process.execPath, [SEMAIL, "start", "--config", "/nonexistent/semail.yaml"]).then(
    () => assert.fail("expected semail start to refuse --config"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stderr, /semail start keeps its settings in <data-dir>\/semail\.yaml/);
});

for (const [part, name] of [
  ["web", "web form"],
  ["inboundSubmissions", "submission over TLS"],
  ["inboundSubmission", "submission with STARTTLS"],
] as const) {
  test(`a port in use is named, with the way out (${name})`, async (t) => {
    const dir = await tempDir(t, "semail-start-");
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, "127.0.0.1", ok));
    t.after(() => busy.close());
    const port = (busy.address() as AddressInfo).port;
    const free = await freeLoopbackPort();
    await writeFile(
      join(dir, "semail.yaml"),
      localSettingsYaml(dir, { ...everyPortAt(free), [part]: port }, "dc=semail,dc=test"),
    );
    const err = await run(process.execPath, [SEMAIL, "start", "--data-dir", dir]).then(
      () => assert.fail("expected semail start to refuse a busy port"),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.match(err.stderr, new RegExp(`port ${port} \\(${name}\\) is in use: .*--free-ports`));
    // The README's command: `semail` itself is not on PATH after `npm run setup`.
    assert.match(err.stderr, /`npm start -- --free-ports`/);
  });
}

test("as root, a mail root other uids cannot reach is refused by its setting before anything is built", {
  skip: needsRoot,
}, async (t) => {
  const dir = await tempDir(t, "semail-start-");
  const closed = join(dir, "closed");
  await mkdir(closed, { mode: 0o700 });
  await chmod(closed, 0o700);
  const ports = everyPortAt(await freeLoopbackPort());
  const yaml = localSettingsYaml(dir, ports, "dc=semail,dc=test").replace(
    `mailRoot: ${join(dir, "mail")}`,
    `mailRoot: ${join(closed, "mail")}`,
  );
  assert.match(yaml, new RegExp(`mailRoot: ${closed}`));
  await writeFile(join(dir, "semail.yaml"), yaml);
  const err = await run(process.execPath, [SEMAIL, "start", "--data-dir", dir]).then(
    () => assert.fail("expected semail start to refuse an unreachable mail root"),
    (e: { code: number; stderr: string; stdout: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stderr, new RegExp(`inbound\\.mailRoot ${closed}/mail .*: ${closed} is closed to other users`));
  assert.doesNotMatch(err.stdout, /image|docker/i, "refused before the users' space (Docker, images) starts");
});
