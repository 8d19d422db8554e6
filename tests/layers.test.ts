// Imports point one way: cli/ -> webform/, deploy/ -> components/, mailservers/, services/ ->
// directory/ -> config/ -> lib/. A lower folder never imports a higher one; this reads every import of
// the source tree and fails naming the file and the import that breaks the rule.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..");

/** What each low folder must never import (its own level and anything above it is out). */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  lib: ["cli", "webform", "deploy", "components", "mailservers", "services", "directory", "config"],
  config: ["cli", "webform", "deploy", "components", "mailservers", "services", "directory"],
  directory: ["cli", "webform", "deploy", "components", "mailservers", "services"],
  mailservers: ["cli", "webform", "deploy", "components", "services"],
  services: ["cli", "webform", "deploy", "components"],
  components: ["cli", "webform", "deploy"],
  webform: ["cli", "deploy"],
  deploy: ["cli", "webform"],
};

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The repository folders a file's relative imports land in. */
async function importedFolders(file: string): Promise<Array<{ spec: string; folder: string }>> {
  const text = await readFile(join(ROOT, file), "utf8");
  const specs = [...text.matchAll(/(?:from|import\()\s*"(\.[^"]+)"/g)].map((m) => m[1]!);
  return specs.map((spec) => ({ spec, folder: normalize(relative(ROOT, join(ROOT, dirname(file), spec))).split("/")[0]! }));
}

test("no lower layer imports a higher one", async () => {
  const broken: string[] = [];
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    for (const file of await sources(folder)) {
      for (const { spec, folder: target } of await importedFolders(file)) {
        if (forbidden.includes(target)) broken.push(`${file} imports ${spec} (${target}/ is above ${folder}/)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test("the check sees a forbidden import (it can fail)", async () => {
  const found = await importedFolders("cli/start.ts");
  assert.ok(found.some((i) => i.folder === "deploy"), "cli/start.ts imports deploy/: the parser finds it");
});

/** Test folders that hold no module's tests: whole journeys, shared helpers, the deploy test rig, fixtures. */
const NOT_MIRRORS = new Set(["e2e", "helpers", "rig", "components/fixtures"]);
/** Test folders named for a source folder that a glob would skip. */
const MIRROR_OF: Readonly<Record<string, string>> = { ci: ".ci" };

async function folders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    out.push(path, ...(await folders(path)));
  }
  return out;
}

test("tests/ mirrors the source: every test folder has its source folder", async () => {
  const orphans: string[] = [];
  for (const folder of await folders("tests")) {
    const mirrored = relative("tests", folder);
    if ([...NOT_MIRRORS].some((n) => mirrored === n || mirrored.startsWith(`${n}/`))) continue;
    const source = MIRROR_OF[mirrored] ?? mirrored;
    const found = await readdir(join(ROOT, source)).then(() => true, () => false);
    if (!found) orphans.push(`${folder} has no ${source}/`);
  }
  assert.deepEqual(orphans, []);
});
