// npm run faults [-- NAME...]: runs the fault matrix (tests/faults/*.test.ts, against the real
// daemons) one row at a time and prints its table. Each row asserts that nothing which got a
// 250 is lost or doubled; the exit status is the test run's. NAME picks rows by file name.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { faultTable, parseTableFile } from "./table.ts";

const ROWS_DIR = path.join(import.meta.dirname, "..", "tests", "faults");
// Kept in step with tests/faults/outcome.ts (faults/ imports no test).
const TABLE_FILE_VARIABLE = "SEMAIL_FAULTS_TABLE";

const wanted = process.argv.slice(2);
const files = (await readdir(ROWS_DIR))
  .filter((f) => f.endsWith(".test.ts"))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort()
  .map((f) => path.join(ROWS_DIR, f));
if (files.length === 0) {
  console.error(`no fault rows match ${wanted.join(" ")} in ${ROWS_DIR}`);
  process.exit(2);
}

const dir = await mkdtemp(path.join(tmpdir(), "semail-faults-"));
const tableFile = path.join(dir, "table.jsonl");
try {
  const status = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=900000", ...files], {
      stdio: "inherit",
      env: { ...process.env, [TABLE_FILE_VARIABLE]: tableFile },
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  const rows = parseTableFile(await readFile(tableFile, "utf8").catch(() => ""));
  console.log(`\nFault matrix (${rows.length} rows; lost and duplicated must be 0):\n`);
  console.log(faultTable(rows));
  process.exitCode = status;
} finally {
  await rm(dir, { recursive: true, force: true });
}
