// The Pulumi CLI's failures in plain words: what the web form shows and `semail deploy` prints.

export const PULUMI_MISSING =
  "the Pulumi CLI is not installed or not in PATH: build it with deploy/pulumi/toolchain/build.sh, or install it " +
  "(https://www.pulumi.com/docs/install/); the web form can also run with web.apply.mode none to only write the users list";

/** Says in plain words what is wrong with the Pulumi CLI. */
export function cliProblem(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/ENOENT/.test(text)) return PULUMI_MISSING;
  if (/version/i.test(text)) return `the Pulumi CLI is too old or too new for this program: ${commandMessage(err)}`;
  return `the Pulumi CLI could not be run: ${commandMessage(err)}`;
}

/**
 * The useful part of an Automation API CommandError ("code: 255\n stdout: ...\n stderr: ..."):
 * its "error:" lines (pulumi prints diagnostics on stdout, the summary on stderr), else its last lines.
 */
export function commandMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const body = text.replace(/\n err\?:[\s\S]*$/, "");
  const lines = body
    .split("\n")
    .map((l) => l.trim())
    .filter(
      (l) => l !== "" && !/^(code: -?\d+|stdout:|stderr:)\s*$/.test(l) && !/^(stderr: )?Command failed with /.test(l),
    )
    .map((l) => l.replace(/^(stdout|stderr): /, ""));
  const errors = lines.filter((l) => /\berror\b/i.test(l));
  return [...new Set(errors.length > 0 ? errors.slice(0, 4) : lines.slice(-4))].join(" / ").slice(0, 500);
}
