// The daemons image's ENV as benchmarks read it: the final stage only, KEY=VALUE pairs, a
// clear error for a form it does not read.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { imageEnv } from "../../../bench/lib/image-env.ts";

async function dockerfile(t: { after(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "semail-image-env-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "Dockerfile"), text);
  return join(dir, "Dockerfile");
}

test("ENV of the final stage, pairs on one line or several; earlier stages' ENV does not count", async (t) => {
  const file = await dockerfile(t, "FROM base AS build\nENV BUILD_ONLY=1\nRUN true\n\nFROM base\nENV A=1 B=two\nENV C=/x/y.so\nCMD [\"x\"]\n");
  assert.deepEqual(await imageEnv(file), { A: "1", B: "two", C: "/x/y.so" });
});

test("a quoted or KEY VALUE form is refused, naming the line", async (t) => {
  const file = await dockerfile(t, "FROM base\nENV A \"1\"\n");
  await assert.rejects(imageEnv(file), /ENV A "1": write it as KEY=VALUE pairs/);
});
