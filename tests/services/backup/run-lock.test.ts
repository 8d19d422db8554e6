// One backup or restore at a time: a run held by a live process is refused, naming it; the file
// of a run whose process is gone is taken over; the file goes when the run ends, even by a throw.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { access, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { BackupRunningError, withRunLock } from "../../../services/backup/run-lock.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

test("a live run is refused, a dead one's file taken over, and the file removed after", async (t) => {
  const dir = await tempDir(t, "semail-run-lock-");
  const file = path.join(dir, "run.pid");
  await writeFile(file, `${process.pid}\n`);
  await assert.rejects(
    withRunLock(dir, async () => "ran"),
    (error: unknown) => error instanceof BackupRunningError && error.message.includes(`pid ${process.pid}`),
  );
  const gone = spawn("true");
  await once(gone, "exit");
  await writeFile(file, `${gone.pid}\n`);
  assert.equal(await withRunLock(dir, async () => "ran"), "ran");
  await assert.rejects(access(file), /ENOENT/);
  await assert.rejects(
    withRunLock(dir, () => Promise.reject(new Error("boom"))),
    /boom/,
  );
  await assert.rejects(access(file), /ENOENT/, "released after a throw too");
});
