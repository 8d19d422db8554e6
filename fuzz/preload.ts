// Preloaded (`node --import`) into each Jazzer.js process that fuzz/run.ts starts:
// - a load hook that strips the types of our .ts modules, so Jazzer.js's ESM instrumentation (a
//   later hook, which runs first and instruments only what comes back as plain JavaScript) sees
//   JavaScript and measures coverage of our parsers: Node's own type stripping comes too late;
// - where the fuzzer addon Jazzer.js ships cannot load (built for glibc 2.38; Debian bookworm has
//   2.36), a copy patched for this glibc (glibc-compat.ts) is loaded instead, from var/fuzz/.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { type LoadHook, register, stripTypeScriptTypes } from "node:module";
import { basename, join } from "node:path";
import { isMainThread } from "node:worker_threads";
import { patchAddon } from "./glibc-compat.ts";

export const load: LoadHook = async (url, context, nextLoad) => {
  const result = await nextLoad(url, context);
  if (result.format !== "module-typescript" || result.source === undefined) return result;
  const source =
    typeof result.source === "string" ? result.source : Buffer.from(result.source as Uint8Array).toString("utf8");
  return { ...result, format: "module", source: stripTypeScriptTypes(source, { mode: "strip" }) };
};

const ADDON = /[/\\]@jazzer\.js[/\\]fuzzer[/\\]prebuilds[/\\]fuzzer-[\w-]+\.node$/;

if (isMainThread) {
  register(import.meta.url);
  const original = process.dlopen.bind(process);
  // Node refuses an explicit undefined for the flags.
  const dlopen = (module: { exports: unknown }, filename: string, flags?: number) =>
    flags === undefined ? original(module, filename) : original(module, filename, flags);
  process.dlopen = (module: { exports: unknown }, filename: string, flags?: number) => {
    try {
      dlopen(module, filename, flags);
    } catch (err) {
      const tooNew = /GLIBC_2\.38|GLIBCXX_3\.4\.32/.test((err as Error).message);
      const patched = ADDON.test(filename) && tooNew ? patchAddon(readFileSync(filename)) : undefined;
      if (!patched) throw err;
      const dir = join(import.meta.dirname, "..", "var", "fuzz");
      mkdirSync(dir, { recursive: true });
      const copy = join(dir, `glibc-compat-${basename(filename)}`);
      writeFileSync(copy, patched);
      dlopen(module, copy, flags);
    }
  };
}
