// Reads a V8 CPU profile (node --cpu-prof) and prints where the time went: self time per
// function and per source file, and the idle share (the event loop waiting).
//
//   node bench/lib/cpu-profile.ts FILE.cpuprofile [--top 30]
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  /** Self time per function ("name file:line"), most first. */
  readonly functions: readonly [string, number][];
  /** Self time per source file (or "(native)" / "(gc)" / "(program)"), most first. */
  readonly files: readonly [string, number][];
}

const shortUrl = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|mailservers|lib|config|dist)\//, "$1/").replace(/^node:/, "node:");

export function summarize(profile: Profile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    total += micros;
    if (functionName === "(idle)") idle += micros;
    const file = url === "" ? `(${functionName.replace(/[()]/g, "") || "native"})` : shortUrl(url);
    const name = `${functionName || "(anonymous)"} ${file}${url ? `:${lineNumber + 1}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
    files.set(file, (files.get(file) ?? 0) + micros);
  }
  const sorted = (map: Map<string, number>) => [...map].map(([k, v]) => [k, v / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { totalMs: total / 1000, idleMs: idle / 1000, functions: sorted(functions), files: sorted(files) };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string" } } });
  const top = Number(values.top ?? 30);
  for (const file of positionals) {
    const summary = summarize(JSON.parse(await readFile(file, "utf8")) as Profile);
    const busy = summary.totalMs - summary.idleMs;
    const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
    console.log(`${file}: ${summary.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy (idle ${summary.idleMs.toFixed(0)} ms)`);
    console.log("self time by file (share of busy):");
    for (const [name, ms] of summary.files.slice(0, top)) if (name !== "(idle)") console.log(`  ${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`);
    console.log("self time by function:");
    for (const [name, ms] of summary.functions.slice(0, top)) if (!name.startsWith("(idle)")) console.log(`  ${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`);
  }
}
