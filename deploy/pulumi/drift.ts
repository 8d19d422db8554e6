// `npm run drift`: `pulumi preview --expect-no-changes` for the selected stack. Exits 0
// when the hosts match the program, 1 on drift or failure, 127 without the Pulumi CLI.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const projectDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const INSTALL_HINT = "install it with `curl -fsSL https://get.pulumi.com | sh` (see https://www.pulumi.com/docs/install/), then run `npm run drift` again";

/** Runs the preview; resolves to the exit code. `pulumi` is looked up in PATH (overridable for tests). */
export function runDrift(args: readonly string[], options: { pulumi?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const env = { ...(options.env ?? process.env) };
  // The nodejs language host runs the first `node` in PATH; Node 26 runs index.ts.
  env.PATH = `${join(projectDir, "node_modules", ".bin")}:${env.PATH ?? ""}`;
  const child = spawn(options.pulumi ?? "pulumi", ["preview", "--expect-no-changes", "--diff", ...args], { cwd: projectDir, env, stdio: "inherit" });
  return new Promise((done) => {
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") {
        process.stderr.write(`drift: the Pulumi CLI (pulumi) is not installed or not in PATH; ${INSTALL_HINT}\n`);
        done(127);
      } else {
        process.stderr.write(`drift: cannot run pulumi: ${err.message}\n`);
        done(1);
      }
    });
    child.on("exit", (code, signal) => {
      if (code === 0) process.stderr.write("drift: no changes: the hosts match the program\n");
      else if (signal === null) process.stderr.write("drift: pulumi preview reported changes or failed (see above); run `pulumi refresh` to read the hosts' real state, then `pulumi up` or fix the hosts\n");
      done(code ?? 1);
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await runDrift(process.argv.slice(2));
}
