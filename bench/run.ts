// `npm run bench [-- NAME [options]]`: runs one benchmark, or all of them. Each bench is
// bench/<name>/run.ts exporting main(argv). Benchmarks measure; they do not pass or fail.
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(here, { withFileTypes: true })
  .filter((e) => e.isDirectory() && e.name !== "lib" && existsSync(`${here}${e.name}/run.ts`))
  .map((e) => e.name)
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (name === "--help" || (name !== undefined && !available.includes(name))) {
  console.log(`usage: npm run bench [-- NAME [options]]\n\nbenchmarks: ${available.join(", ")}`);
  process.exitCode = name === "--help" ? 0 : 2;
} else {
  for (const bench of name === undefined ? available : [name]) {
    const module = (await import(`./${bench}/run.ts`)) as { main(argv: readonly string[]): Promise<void> };
    await module.main(name === undefined ? [] : rest);
  }
}
