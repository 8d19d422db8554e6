// Production applier: `pulumi up` on the project directory through the Automation API.
// The Pulumi program reads the users list itself (stack config semail:usersList).
import { dirname, join, resolve } from "node:path";
import type { OutputMap, Stack } from "@pulumi/pulumi/automation/index.js";
import type { Applier, ApplyContext } from "../../config/applier.ts";

export interface PulumiApplierOptions {
  /** Directory holding Pulumi.yaml. */
  readonly projectDir: string;
  /** Stack to select (it must exist: `pulumi stack init NAME`). */
  readonly stack: string;
  /** The users list the form writes; the apply refuses to run when the stack reads another file. */
  readonly usersFile?: string;
  /** Folder holding bin/pulumi; the `pulumi` in PATH when unset. */
  readonly cliRoot?: string;
}

export const PULUMI_MISSING =
  "the Pulumi CLI is not installed or not in PATH of the web form: install it (https://www.pulumi.com/docs/install/), " +
  "or set web.apply.mode to none to only write the users list";

/** The program's default for semail:usersList (Pulumi.yaml). */
const DEFAULT_USERS_LIST = "users.yaml";

/** The stack output userSshCommands (owner -> `ssh -J ...`, index.ts), or none. */
export function sshCommandsOf(outputs: OutputMap): Readonly<Record<string, string>> {
  const value: unknown = outputs.userSshCommands?.value;
  if (typeof value !== "object" || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
}

/** The stack output webmailUrl (index.ts), or none. */
export function webmailUrlOf(outputs: OutputMap): string | undefined {
  const value: unknown = outputs.webmailUrl?.value;
  return typeof value === "string" && /^https:\/\//.test(value) ? value : undefined;
}

export function createPulumiApplier(options: PulumiApplierOptions): Applier {
  const workDir = resolve(options.projectDir);
  // The nodejs language host runs the first `node` in PATH, which must be Node 26 to run index.ts.
  const path = [join(workDir, "node_modules", ".bin"), dirname(process.execPath), process.env.PATH ?? ""].join(":");
  const openStack = async (): Promise<Stack> => {
    // Loaded here: the Automation API is large and only production needs it.
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
    let pulumi;
    try {
      pulumi = await PulumiCommand.get(options.cliRoot !== undefined ? { root: options.cliRoot } : undefined);
    } catch (err) {
      throw new Error(cliProblem(err));
    }
    try {
      return await LocalWorkspace.selectStack({ stackName: options.stack, workDir }, { pulumiCommand: pulumi, envVars: { PATH: path } });
    } catch (err) {
      throw new Error(`cannot select Pulumi stack ${JSON.stringify(options.stack)} in ${workDir}: ${commandMessage(err)}`);
    }
  };
  // The last up's outputs (SSH lines, the webmail); read from the stack when asked before any
  // up since the form started. A failed read is tried again at the next ask.
  let outputs: Promise<OutputMap> | undefined;
  const lastOutputs = (): Promise<OutputMap> => {
    outputs ??= openStack().then((stack) => stack.outputs()).catch(() => {
      outputs = undefined;
      return {};
    });
    return outputs;
  };
  return {
    name: "pulumi",
    async sshCommand(owner: string): Promise<string | undefined> {
      return sshCommandsOf(await lastOutputs())[owner];
    },
    async webmailUrl(): Promise<string | undefined> {
      return webmailUrlOf(await lastOutputs());
    },
    async apply(context: ApplyContext): Promise<void> {
      const stack = await openStack();
      const log = context.logger.child({ applier: "pulumi", stack: options.stack });
      if (options.usersFile !== undefined) {
        const configured = await stack.getConfig("semail:usersList").then((v) => v.value, () => DEFAULT_USERS_LIST);
        const read = resolve(workDir, configured);
        if (read !== resolve(options.usersFile)) {
          throw new Error(`stack ${options.stack} reads the users list ${read} (semail:usersList) but the form writes ${resolve(options.usersFile)} (setting users): make them the same file`);
        }
      }
      try {
        const result = await stack.up({
          signal: context.signal,
          onOutput: (out: string) => log.info({ out: out.trimEnd() }, "pulumi up"),
        });
        outputs = Promise.resolve(result.outputs);
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
    .filter((l) => l !== "" && !/^(code: -?\d+|stdout:|stderr:)\s*$/.test(l) && !/^(stderr: )?Command failed with /.test(l))
    .map((l) => l.replace(/^(stdout|stderr): /, ""));
  const errors = lines.filter((l) => /\berror\b/i.test(l));
  return [...new Set(errors.length > 0 ? errors.slice(0, 4) : lines.slice(-4))].join(" / ").slice(0, 500);
}
