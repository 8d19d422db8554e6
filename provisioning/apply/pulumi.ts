// Production applier: `pulumi up` on the project directory through the Automation API.
// The Pulumi program reads the users list itself; this only runs the update.
import { resolve } from "node:path";
import type { Applier, ApplyContext } from "./types.ts";

export interface PulumiApplierOptions {
  /** Directory holding Pulumi.yaml. */
  readonly projectDir: string;
  /** Stack to select (it must exist: `pulumi stack init NAME`). */
  readonly stack: string;
  /** Folder holding bin/pulumi; the `pulumi` in PATH when unset. */
  readonly cliRoot?: string;
}

export const PULUMI_MISSING =
  "the Pulumi CLI is not installed or not in PATH of the web form: install it (https://www.pulumi.com/docs/install/), " +
  "or set web.apply.mode to none to only write the users list";

export function createPulumiApplier(options: PulumiApplierOptions): Applier {
  const workDir = resolve(options.projectDir);
  return {
    name: "pulumi",
    async apply(context: ApplyContext): Promise<void> {
      // Loaded here: the Automation API is large and only production needs it.
      const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
      let pulumi;
      try {
        pulumi = await PulumiCommand.get(options.cliRoot !== undefined ? { root: options.cliRoot } : undefined);
      } catch (err) {
        throw new Error(cliProblem(err));
      }
      const log = context.logger.child({ applier: "pulumi", stack: options.stack });
      let stack;
      try {
        stack = await LocalWorkspace.selectStack({ stackName: options.stack, workDir }, { pulumiCommand: pulumi });
      } catch (err) {
        throw new Error(`cannot select Pulumi stack ${JSON.stringify(options.stack)} in ${workDir}: ${commandMessage(err)}`);
      }
      try {
        await stack.up({
          signal: context.signal,
          onOutput: (out: string) => log.info({ out: out.trimEnd() }, "pulumi up"),
        });
      } catch (err) {
        throw new Error(`pulumi up failed for stack ${JSON.stringify(options.stack)}: ${commandMessage(err)}`);
      }
    },
  };
}

/** Says in plain words what is wrong with the Pulumi CLI. */
export function cliProblem(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  if (/ENOENT/.test(text)) return PULUMI_MISSING;
  if (/version/i.test(text)) return `the Pulumi CLI is too old or too new for this program: ${commandMessage(err)}`;
  return `the Pulumi CLI could not be run: ${commandMessage(err)}`;
}

/** The useful part of an Automation API CommandError ("code: 255\n stdout: ...\n stderr: ..."). */
export function commandMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const stderr = /stderr:([\s\S]*?)(?:\n err\?:|$)/.exec(text)?.[1]?.trim();
  const lines = (stderr || text).split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.slice(-4).join(" / ").slice(0, 500);
}
