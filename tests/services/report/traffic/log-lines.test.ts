// Where the summary reads from: files in turn, and `docker:NAME` through the Docker CLI (here a
// stand-in on PATH that prints what `docker logs` would, and fails as it does for a container
// that is not there); a source that cannot be read rejects, naming it.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { logLines } from "../../../../services/report/traffic/log-lines.ts";
import { tempDir } from "../../../../testkit/temp-dir.ts";

async function all(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

test("files and docker logs, in the order given; docker is asked for the window only", async (t) => {
  const dir = await tempDir(t, "semail-log-lines-");
  await mkdir(path.join(dir, "bin"));
  await writeFile(
    path.join(dir, "bin", "docker"),
    [
      "#!/bin/sh",
      `printf '%s\\n' "$@" > ${path.join(dir, "argv")}`,
      'if [ "$4" = semail-gone ]; then echo "Error response from daemon: No such container: semail-gone" >&2; exit 1; fi',
      'printf \'{"n":1}\\r\\n{"n":2}\\n\'',
      "echo 'docker says this on stderr' >&2",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const savedPath = process.env.PATH;
  process.env.PATH = `${path.join(dir, "bin")}:${savedPath}`;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  await writeFile(path.join(dir, "semail.log"), '{"n":0}\n');
  const since = new Date("2026-12-07T00:00:00.000Z");

  assert.deepEqual(await all(logLines([path.join(dir, "semail.log"), "docker:semail-inbound"], since)), [
    '{"n":0}',
    '{"n":1}',
    '{"n":2}',
  ]);
  assert.deepEqual((await readFile(path.join(dir, "argv"), "utf8")).split("\n"), [
    "logs",
    "--since",
    "2026-12-07T00:00:00.000Z",
    "semail-inbound",
    "",
  ]);
  await assert.rejects(
    all(logLines(["docker:semail-gone"], since)),
    /docker logs semail-gone failed \(exit 1\): Error response from daemon: No such container: semail-gone/,
  );
  await assert.rejects(all(logLines([path.join(dir, "missing.log")], since)), /ENOENT.*missing\.log/);
});
