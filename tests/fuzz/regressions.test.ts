// Every input the fuzzers kept, replayed through its target's property without Jazzer.js: each
// crash ever found (fuzz/regressions/<target>/, kept after its fix) and the committed corpus
// (fuzz/corpus/<target>/). A property that breaks again fails here, naming the input file.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { corpusDir, regressionsDir, TARGETS, targetFile } from "../../fuzz/targets.ts";

async function files(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort().map((f) => join(dir, f));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

for (const target of TARGETS) {
  test(`fuzz target ${target.name}: every saved crash and corpus input keeps its property`, async (t) => {
    const { fuzz } = (await import(targetFile(target.name))) as { fuzz(data: Buffer): void };
    for (const kind of ["regressions", "corpus"] as const) {
      const inputs = await files(kind === "regressions" ? regressionsDir(target.name) : corpusDir(target.name));
      await t.test(`${kind} (${inputs.length})`, async () => {
        for (const file of inputs) {
          const data = await readFile(file);
          try {
            fuzz(data);
          } catch (err) {
            throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
          }
        }
      });
    }
  });
}
