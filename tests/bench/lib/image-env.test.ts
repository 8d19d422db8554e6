// The daemons image's ENV as benchmarks read it: the final stage only, KEY=VALUE pairs, a
// clear error for a form it does not read.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { imageEnv } from "../../../bench/lib/image-env.ts";
import { tempDir } from "../../../testkit/temp-dir.ts";

async function dockerfile(t: { after(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const dir = await tempDir(t, "semail-image-env-");
  await writeFile(join(dir, "Dockerfile"), text);
  return join(dir, "Dockerfile");
}

test("ENV of the final stage, pairs on one line or several; earlier stages' ENV does not count", async (t) => {
  const file = await dockerfile(
    t,
    'FROM base AS build\nENV BUILD_ONLY=1\nRUN true\n\nFROM base\nENV A=1 B=two\nENV C=/x/y.so\nCMD ["x"]\n',
  );
  assert.deepEqual(await imageEnv(file), { A: "1", B: "two", C: "/x/y.so" });
});

test("a quoted or KEY VALUE form is refused, naming the line", async (t) => {
  const file = await dockerfile(t, 'FROM base\nENV A "1"\n');
  await assert.rejects(imageEnv(file), /ENV A "1": write it as KEY=VALUE pairs/);
});
