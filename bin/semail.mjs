#!/usr/bin/env node
// The `semail` command. The CLI is TypeScript run by Node's type stripping, which needs
// Node 26 (the current LTS). An older node re-runs this file with the LTS that
// `npm install` placed in node_modules (the `node` package).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const major = Number(process.versions.node.split(".")[0]);
if (major >= 26) {
  const { main } = await import("../cli/main.ts");
  await main(process.argv.slice(2));
} else {
  let lts;
  try {
    lts = createRequire(import.meta.url).resolve("node/bin/node");
  } catch {
    console.error(
      `semail needs Node.js 26 or later (this is ${process.version}); run \`npm install\` in the checkout first.`,
    );
    process.exit(1);
  }
  // Imported here: the daemons never need child_process (2 MB of memory).
  const { spawn } = await import("node:child_process");
  const child = spawn(lts, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  // The terminal's Ctrl-C reaches the child too; a `kill` aimed at us is passed on.
  for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  process.on("SIGINT", () => {});
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
