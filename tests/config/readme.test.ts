// The configuration reference (docs/reference.md) must name every setting the schema accepts.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import * as z from "zod/mini";
import { settingsSchema } from "../../config/settings.ts";

type JsonSchema = { properties?: Record<string, JsonSchema> };

function leafPaths(node: JsonSchema, prefix = ""): string[] {
  const entries = Object.entries(node.properties ?? {});
  if (entries.length === 0) return [prefix];
  return entries.flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
}

test("every setting is in the configuration reference (docs/reference.md)", async () => {
  const readme = await readFile(join(import.meta.dirname, "../../docs/reference.md"), "utf8");
  const paths = leafPaths(z.toJSONSchema(settingsSchema, { io: "input", unrepresentable: "any" }) as JsonSchema);
  assert.ok(paths.length > 50, `the walk found the settings (${paths.length})`);
  // A row may group siblings: `a.b.c`, `.d` documents a.b.d too.
  const missing = paths.filter((path) => {
    const leaf = path.slice(path.lastIndexOf(".") + 1);
    const parent = path.slice(0, path.lastIndexOf("."));
    return !readme.includes(`\`${path}\``) && !(readme.includes(`\`${parent}.`) && readme.includes(`\`.${leaf}\``));
  });
  assert.deepEqual(missing, [], "settings missing from docs/reference.md");
});
