// What a new certificate is handed to: each `acme.reload` command (an argv), run in turn. On the
// VM these are the daemons' SIGHUP (they reload the certificate for new sessions, open ones go
// on), `doveadm reload` and nginx's HUP; local mode and tests pass functions instead.
import { execFile } from "node:child_process";

export interface Reload {
  readonly name: string;
  run(): Promise<unknown>;
}

/** A reload that runs `argv` (no shell), failing with its stderr. */
export function commandReload(argv: readonly string[], timeoutMs = 60_000): Reload {
  const [program, ...args] = argv;
  return {
    name: argv.join(" "),
    run: () =>
      new Promise<void>((resolve, reject) => {
        execFile(program!, args, { timeout: timeoutMs }, (err, _out, stderr) =>
          err ? reject(new Error(`${argv.join(" ")}: ${stderr.trim() || err.message}`)) : resolve(),
        );
      }),
  };
}
