// One driver for everything that deploys: the Pulumi engine through the Automation API, with
// SEMail's program (program.ts) run INLINE in this process, so no language host is needed.
// `semail deploy`, `npm run drift` and the web form's applier all go through here.
import { join, resolve } from "node:path";
import type { EngineEvent, OutputMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation/index.js";
import { pulumiCliRoot } from "./cli-root.ts";
import { cliProblem, commandMessage } from "./command-errors.ts";
import { semailProgram } from "./program.ts";
import { errorOfEvent, isChange, stepOfEvent, type Step } from "./steps.ts";

export interface EngineOptions {
  /** The repository: what the program reads (users list, host scripts, image folders). */
  readonly projectDir: string;
  readonly stack: string;
  /** Holds Pulumi.yaml and Pulumi.<stack>.yaml (the stack's config and secrets); the project by default. */
  readonly workDir?: string;
  /** Holds bin/pulumi; by default the toolchain's build, else `pulumi` in PATH (cli-root.ts). */
  readonly cliRoot?: string;
  /** More environment for the CLI and the providers it starts (backend, passphrase, agent). */
  readonly env?: Readonly<Record<string, string>>;
  /** Create the stack when it does not exist (tests, a first deploy); by default it must exist. */
  readonly createStack?: boolean;
}

export interface RunOptions {
  /** Each resource as the engine finishes it (up, destroy, refresh) or plans it (preview). */
  readonly onStep?: (step: Step) => void;
  /** Each failed resource, with the provider's error. */
  readonly onError?: (name: string, message: string) => void;
  readonly signal?: AbortSignal;
  /** Read the hosts' real state first (`--refresh`). */
  readonly refresh?: boolean;
}

export interface RunResult {
  /** Every step reported, in order. */
  readonly steps: readonly Step[];
  /** The steps that change something. */
  readonly changes: readonly Step[];
  readonly seconds: number;
}

export class EngineError extends Error {
  /** What had been done (or planned) before it failed. */
  readonly steps: readonly Step[];
  readonly failed: ReadonlyArray<{ readonly name: string; readonly message: string }>;
  constructor(message: string, steps: readonly Step[], failed: ReadonlyArray<{ name: string; message: string }>) {
    super(message);
    this.name = "EngineError";
    this.steps = steps;
    this.failed = failed;
  }
}

export interface SemailEngine {
  readonly stack: Stack;
  up(options?: RunOptions): Promise<RunResult & { readonly outputs: OutputMap }>;
  /** What `up` would do; `expectNoChanges` fails the run when that is anything (drift). */
  preview(options?: RunOptions & { readonly expectNoChanges?: boolean }): Promise<RunResult>;
  refresh(options?: RunOptions): Promise<RunResult>;
  destroy(options?: RunOptions): Promise<RunResult>;
  outputs(): Promise<OutputMap>;
}

type Operation = "up" | "preview" | "refresh" | "destroy";

async function cliCommand(root: string | undefined): Promise<PulumiCommand> {
  const { PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
  try {
    return await PulumiCommand.get({ ...(root !== undefined ? { root } : {}), skipVersionCheck: true });
  } catch (err) {
    throw new Error(cliProblem(err));
  }
}

/** Opens (or creates) the stack with SEMail's program inline. */
export async function openEngine(options: EngineOptions): Promise<SemailEngine> {
  const projectDir = resolve(options.projectDir);
  const workDir = resolve(options.workDir ?? projectDir);
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation/index.js");
  const pulumiCommand = await cliCommand(options.cliRoot ?? pulumiCliRoot(projectDir));
  // The dynamic-provider plugin ships in the npm package: on PATH the engine finds it, and it
  // runs the `node` first on PATH, which must be Node 26 (HostCommand loads .ts files).
  const path = [
    join(projectDir, "node_modules", "@pulumi", "pulumi"),
    join(projectDir, "node_modules", ".bin"),
    options.env?.PATH ?? process.env.PATH ?? "",
  ].join(":");
  const args = { stackName: options.stack, projectName: "semail", program: async () => semailProgram(projectDir) };
  // Its launcher finds its script with require.resolve from the work dir: say where node_modules is.
  const opts = {
    workDir,
    pulumiCommand,
    envVars: { ...options.env, PATH: path, NODE_PATH: join(projectDir, "node_modules") },
  };
  let stack: Stack;
  try {
    stack = options.createStack
      ? await LocalWorkspace.createOrSelectStack(args, opts)
      : await LocalWorkspace.selectStack(args, opts);
  } catch (err) {
    throw new Error(
      `cannot ${options.createStack ? "open" : "select"} Pulumi stack ${JSON.stringify(options.stack)} in ${workDir}: ${commandMessage(err)}`,
    );
  }

  const run = async <T>(
    op: Operation,
    planned: boolean,
    reporting: RunOptions,
    call: (onEvent: (e: EngineEvent) => void) => Promise<T>,
  ): Promise<RunResult & { result: T }> => {
    const steps: Step[] = [];
    const failed: Array<{ name: string; message: string }> = [];
    const started = Date.now();
    const onEvent = (event: EngineEvent) => {
      const step = stepOfEvent(event, planned);
      if (step !== undefined) {
        steps.push(step);
        reporting.onStep?.(step);
      }
      const error = errorOfEvent(event);
      if (error !== undefined) {
        failed.push(error);
        reporting.onError?.(error.name, error.message);
      }
    };
    try {
      const result = await call(onEvent);
      return { result, steps, changes: steps.filter(isChange), seconds: (Date.now() - started) / 1000 };
    } catch (err) {
      const why = failed.length > 0 ? failed.map((f) => `${f.name}: ${f.message}`).join(" / ") : commandMessage(err);
      throw new EngineError(`pulumi ${op} of stack ${JSON.stringify(stack.name)} failed: ${why}`, steps, failed);
    }
  };

  return {
    stack,
    async up(o = {}) {
      const r = await run("up", false, o, (onEvent) =>
        stack.up({ onEvent, ...(o.refresh ? { refresh: true } : {}), ...(o.signal ? { signal: o.signal } : {}) }),
      );
      return { ...r, outputs: r.result.outputs };
    },
    async preview(o = {}) {
      return run("preview", true, o, (onEvent) =>
        stack.preview({
          onEvent,
          diff: true,
          ...(o.refresh ? { refresh: true } : {}),
          ...(o.expectNoChanges ? { expectNoChanges: true } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        }),
      );
    },
    async refresh(o = {}) {
      return run("refresh", false, o, (onEvent) =>
        stack.refresh({ onEvent, ...(o.signal ? { signal: o.signal } : {}) }),
      );
    },
    async destroy(o = {}) {
      return run("destroy", false, o, (onEvent) =>
        stack.destroy({ onEvent, ...(o.refresh ? { refresh: true } : {}), ...(o.signal ? { signal: o.signal } : {}) }),
      );
    },
    outputs: () => stack.outputs(),
  };
}
