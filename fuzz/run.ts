// `npm run fuzz`: each target (fuzz/targets.ts) under Jazzer.js, coverage-guided, for a bounded
// time, one process at a time. Its corpus lives in fuzz/corpus/<target>/ and is minimised after the
// run to the smallest inputs that keep all the coverage reached (minimise below); a crash is written to
// fuzz/regressions/<target>/, which tests/fuzz/regressions.test.ts replays from then on.
//
//   npm run fuzz                          every target, 60 s each
//   npm run fuzz -- --seconds 300 mboxo   one target, 5 minutes (or FUZZ_SECONDS=300)
//   npm run fuzz -- --runs 10000          a number of executions instead of a time
//   npm run fuzz -- --runs 0 --coverage   replay the corpus, with line and branch coverage
//                                         (Istanbul) of each file in var/fuzz/coverage/<target>/
//
// Prints a table: executions, executions per second, coverage (libFuzzer's `cov`: edges of the
// instrumented code reached; `ft`: features, edges with hit counts), corpus size, findings.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { corpusDir, FUZZ_DIR, type FuzzTarget, regressionsDir, TARGETS, targetFile } from "./targets.ts";

const JAZZER = fileURLToPath(import.meta.resolve("@jazzer.js/core/dist/cli.js"));
const REPO = join(FUZZ_DIR, "..");
const HOOKS = join(FUZZ_DIR, "preload.ts");

export interface RunOptions {
  /** Wall-clock bound (libFuzzer -max_total_time). */
  readonly seconds?: number;
  /** Execution bound (libFuzzer -runs): with a seed, the same run each time. */
  readonly runs?: number;
  readonly seed?: number;
  /** Minimise the committed corpus together with what the run found. */
  readonly updateCorpus?: boolean;
  /** Where the output goes (a log file), besides the parsed summary. */
  readonly log?: string;
  /** Also measure line and branch coverage of the instrumented files (Istanbul), into this directory. */
  readonly coverageDir?: string;
}

export interface RunResult {
  readonly target: string;
  readonly executions: number;
  readonly execsPerSecond: number;
  readonly cov: number;
  readonly ft: number;
  readonly corpus: number;
  /** Files written to fuzz/regressions/<target>/ by this run. */
  readonly findings: readonly string[];
  readonly exitCode: number;
  readonly output: string;
}

function jazzer(
  target: FuzzTarget,
  corpora: readonly string[],
  libFuzzer: readonly string[],
  log?: string,
  coverageDir?: string,
) {
  const args = [
    JAZZER,
    // Jazzer.js appends ".js" to a target path that does not end in it; a query string keeps the file.
    `${targetFile(target.name)}?target.js`,
    ...corpora,
    "--sync",
    ...target.instrument.flatMap((p) => ["-i", p]),
    "-e",
    "/fuzz/",
    ...(coverageDir === undefined
      ? []
      : [
          "--coverage",
          `--coverage_directory=${coverageDir}`,
          "--coverage_reporters=json-summary",
          "--coverage_reporters=text",
        ]),
    "--",
    ...libFuzzer,
  ];
  return new Promise<{ exitCode: number; output: string }>((resolve, reject) => {
    // In NODE_OPTIONS, not argv: a process Jazzer.js starts (its -fork mode) needs it too.
    // Warnings off: in --sync mode they all flush at the end (the YAML parser's, one per odd input),
    // burying libFuzzer's final stats.
    const options = `${process.env.NODE_OPTIONS ?? ""} --import=${HOOKS} --no-warnings`.trim();
    const env = { ...process.env, NODE_OPTIONS: options };
    const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    const file = log === undefined ? undefined : createWriteStream(log, { flags: "a" });
    let output = "";
    const take = (data: Buffer) => {
      output += data.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
      file?.write(data);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (code) => {
      file?.end();
      resolve({ exitCode: code ?? 1, output });
    });
  });
}

/** The last libFuzzer status line's numbers, and the final stats. */
export function parseStats(output: string) {
  const status = [...output.matchAll(/#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/g)].at(-1);
  const executed = /stat::number_of_executed_units: (\d+)/.exec(output);
  const speed = /stat::average_exec_per_sec:\s+(\d+)/.exec(output);
  return {
    executions: Number(executed?.[1] ?? status?.[1] ?? 0),
    execsPerSecond: Number(speed?.[1] ?? 0),
    cov: Number(status?.[2] ?? 0),
    ft: Number(status?.[3] ?? 0),
    corpus: Number(status?.[4] ?? 0),
  };
}

export async function runTarget(target: FuzzTarget, options: RunOptions): Promise<RunResult> {
  const corpus = corpusDir(target.name);
  const regressions = regressionsDir(target.name);
  await mkdir(corpus, { recursive: true });
  await mkdir(regressions, { recursive: true });
  const before = new Set(await readdir(regressions));
  // New inputs go to a scratch directory first; the committed corpus is only read.
  const scratch = await mkdtemp(join(tmpdir(), `semail-fuzz-${target.name}-`));
  try {
    const bound = options.runs !== undefined ? `-runs=${options.runs}` : `-max_total_time=${options.seconds ?? 60}`;
    const run = await jazzer(
      target,
      [scratch, corpus],
      [
        bound,
        `-artifact_prefix=${regressions}/`,
        "-max_len=4096",
        "-timeout=20",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        ...(options.seed !== undefined ? [`-seed=${options.seed}`] : []),
      ],
      options.log,
      options.coverageDir,
    );
    const findings = (await readdir(regressions)).filter((f) => !before.has(f));
    if (options.updateCorpus && run.exitCode === 0) await minimise(target, corpus, scratch, options.log);
    return { target: target.name, ...parseStats(run.output), findings, exitCode: run.exitCode, output: run.output };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The corpus becomes the smallest inputs that together reach every feature (edge and hit count)
 * of our code that the corpus and the run's new inputs reach: libFuzzer's -merge, done here in one process, since
 * the inner processes its own -merge starts fail under Jazzer.js. libFuzzer measures each file
 * (-merge_inner writes its features to a control file); the choice is greedy, smallest first.
 */
async function minimise(target: FuzzTarget, corpus: string, scratch: string, log?: string): Promise<void> {
  const inputs: { path: string; size: number }[] = [];
  for (const dir of [corpus, scratch])
    for (const name of await readdir(dir))
      inputs.push({ path: join(dir, name), size: (await stat(join(dir, name))).size });
  inputs.sort((a, b) => a.size - b.size || a.path.localeCompare(b.path));
  const control = join(scratch, "..", `${basename(scratch)}.merge`);
  await writeFile(control, `${inputs.length}\n0\n${inputs.map((i) => i.path).join("\n")}\n`);
  try {
    // Measured on our own code only: a library's coverage guides the fuzzer, but keeping an input
    // for each of its features would make the committed corpus ten times larger.
    const ours = { ...target, instrument: target.instrument.filter((p) => !p.includes("/node_modules/")) };
    const inner = await jazzer(ours, [], [`-merge_control_file=${control}`, "-merge_inner=1", "-max_len=4096"], log);
    const features = new Map<number, number[]>();
    for (const line of (await readFile(control, "utf8")).split("\n")) {
      const [kind, index, ...values] = line.split(" ");
      if (kind === "FT") features.set(Number(index), values.map(Number));
    }
    // Every input measured, or the corpus stays as it was, with the new inputs added.
    if (inner.exitCode !== 0 || features.size !== inputs.length) {
      await cp(scratch, corpus, { recursive: true });
      return;
    }
    const seen = new Set<number>();
    const keep = new Set<string>();
    inputs.forEach((input, i) => {
      const fresh = features.get(i)!.filter((f) => !seen.has(f));
      if (fresh.length === 0) return;
      for (const f of fresh) seen.add(f);
      keep.add(input.path);
    });
    for (const input of inputs) {
      const name = basename(input.path);
      if (input.path.startsWith(corpus) && !keep.has(input.path)) await rm(input.path);
      else if (input.path.startsWith(scratch) && keep.has(input.path)) await copyFile(input.path, join(corpus, name));
    }
  } finally {
    await rm(control, { force: true });
  }
}

function table(results: readonly RunResult[]): string {
  const rows = [
    ["target", "executions", "exec/s", "cov", "ft", "corpus", "findings"],
    ...results.map((r) => [
      r.target,
      String(r.executions),
      String(r.execsPerSecond),
      String(r.cov),
      String(r.ft),
      String(r.corpus),
      r.findings.length > 0 ? r.findings.join(" ") : r.exitCode === 0 ? "none" : `exit ${r.exitCode}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")).join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  let seconds = Number(process.env.FUZZ_SECONDS ?? 60);
  let runs: number | undefined;
  let coverage = false;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--seconds") seconds = Number(argv[++i]);
    else if (arg === "--runs") runs = Number(argv[++i]);
    else if (arg === "--coverage") coverage = true;
    else if (arg.startsWith("-"))
      throw new Error(`unknown option ${arg}: use --seconds N, --runs N, --coverage, and target names`);
    else names.push(arg);
  }
  if (!(seconds > 0) || (runs !== undefined && !(runs >= 0)))
    throw new Error("--seconds takes a positive number, --runs a count");
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0)
    throw new Error(`no target ${unknown.join(", ")}: the targets are ${TARGETS.map((t) => t.name).join(", ")}`);
  const chosen = names.length > 0 ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  const logDir = join(REPO, "var", "fuzz");
  await mkdir(logDir, { recursive: true });
  const results: RunResult[] = [];
  for (const target of chosen) {
    const log = join(logDir, `${target.name}.log`);
    await rm(log, { force: true });
    process.stderr.write(
      `fuzz: ${target.name} (${runs !== undefined ? `${runs} runs` : `${seconds} s`}; log ${log})\n`,
    );
    const result = await runTarget(target, {
      seconds,
      ...(runs !== undefined ? { runs } : {}),
      ...(coverage ? { coverageDir: join(logDir, "coverage", target.name) } : {}),
      updateCorpus: true,
      log,
    });
    results.push(result);
    if (result.exitCode !== 0)
      process.stderr.write(
        `fuzz: ${target.name} failed (exit ${result.exitCode}): ${result.findings.map((f) => join("fuzz/regressions", target.name, f)).join(" ") || `see ${log}`}\n`,
      );
  }
  process.stdout.write(`${table(results)}\n`);
  return results.every((r) => r.exitCode === 0) ? 0 : 1;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
