// `semail deploy up | preview | drift | destroy | outputs`: the stack, through the engine
// driver (deploy/pulumi/engine.ts), with a line per resource as the engine reports it and a
// summary at the end. `drift` is `preview --refresh --expect-no-changes`: exit 0 when the
// hosts match the program, 1 naming every drifted resource and what differs.
import { createInterface } from "node:readline/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../config/settings.ts";
import { EngineError, openEngine, type RunResult, type SemailEngine } from "../deploy/pulumi/engine.ts";
import { isChange, stepLine, type Step } from "../deploy/pulumi/steps.ts";
import type { Command } from "./command.ts";

const PROJECT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const ACTIONS = ["up", "preview", "drift", "destroy", "outputs"] as const;
type Action = (typeof ACTIONS)[number];

const say = (line: string) => process.stdout.write(`${line}\n`);

const PAST: Readonly<Record<string, string>> = {
  create: "created",
  update: "updated",
  delete: "deleted",
  replace: "replaced",
  import: "imported",
};

/** "3 to create, 1 to update" (planned) or "3 created, 1 updated" (done), or "no changes". */
export function summary(changes: readonly Step[], done: boolean): string {
  const counts = new Map<string, number>();
  for (const step of changes) counts.set(step.op, (counts.get(step.op) ?? 0) + 1);
  if (counts.size === 0) return "no changes";
  return [...counts].map(([op, n]) => (done ? `${n} ${PAST[op] ?? op}` : `${n} to ${op}`)).join(", ");
}

/** Asks on a terminal; without one, refuses and names --yes. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new ConfigError(`${question}: not on a terminal, so nothing asked: run again with --yes`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const progress = {
  onStep: (step: Step) => say(stepLine(step)),
  onError: (name: string, message: string) => say(`!  failed  ${name}: ${message}`),
};

function finished(result: RunResult, done: boolean): void {
  say(`\n${summary(result.changes, done)} (${result.seconds.toFixed(1)} s)`);
}

/** Runs `action`; resolves to the exit code. */
export async function runDeploy(
  engine: SemailEngine,
  action: Action,
  flags: { yes: boolean; refresh: boolean },
): Promise<number> {
  switch (action) {
    case "preview":
      finished(await engine.preview({ ...progress, refresh: flags.refresh }), false);
      return 0;
    case "drift": {
      try {
        await engine.preview({ ...progress, refresh: true, expectNoChanges: true });
        say("\nno drift: the hosts match the program");
        return 0;
      } catch (err) {
        if (!(err instanceof EngineError) || err.failed.length > 0) throw err;
        const drifted = err.steps.filter(isChange);
        if (drifted.length === 0) throw err;
        say(
          `\ndrift: ${drifted.length} resource${drifted.length === 1 ? "" : "s"} differ${drifted.length === 1 ? "s" : ""} from the program:`,
        );
        for (const step of drifted) say(`  ${stepLine(step)}`);
        say("repair with: semail deploy up --refresh");
        return 1;
      }
    }
    case "up":
    case "destroy": {
      if (!flags.yes) {
        const plan = action === "up" ? await engine.preview({ ...progress, refresh: flags.refresh }) : undefined;
        if (plan && plan.changes.length === 0) {
          say("\nno changes");
          return 0;
        }
        if (
          !(await confirm(
            action === "up"
              ? `apply ${summary(plan!.changes, false)} to stack ${engine.stack.name}?`
              : `destroy every resource of stack ${engine.stack.name}?`,
          ))
        )
          return 1;
      }
      const result =
        action === "up"
          ? await engine.up({ ...progress, refresh: flags.refresh })
          : await engine.destroy({ ...progress, refresh: flags.refresh });
      finished(result, true);
      return 0;
    }
    case "outputs":
      for (const [name, { value, secret }] of Object.entries(await engine.outputs()))
        say(`${name}: ${secret ? "[secret]" : JSON.stringify(value)}`);
      return 0;
  }
}

const deploy: Command = {
  name: "deploy",
  usage: `${ACTIONS.join(" | ")}`,
  ownSettings: "the Pulumi stack (Pulumi.<stack>.yaml, `pulumi config`)",
  summary:
    "Deploys SEMail with the Pulumi engine (the program runs inline: no language host): up, preview, drift (preview --refresh --expect-no-changes), destroy, outputs.",
  flags: [
    { name: "stack", type: "string", value: "NAME", description: "the stack (default: prod)" },
    { name: "yes", type: "boolean", description: "up and destroy without asking" },
    { name: "refresh", type: "boolean", description: "read the hosts' real state first (up, preview, destroy)" },
    {
      name: "work-dir",
      type: "string",
      value: "DIR",
      description: "where Pulumi.yaml and Pulumi.<stack>.yaml are (default: the project)",
    },
  ],
  async run(_settings, { positionals, flags }) {
    const [action, ...extra] = positionals;
    if (!ACTIONS.includes(action as Action) || extra.length > 0)
      throw new ConfigError(`semail deploy: say one of ${ACTIONS.join(", ")}`);
    const engine = await openEngine({
      projectDir: PROJECT_DIR,
      stack: typeof flags.stack === "string" ? flags.stack : "prod",
      ...(typeof flags["work-dir"] === "string" ? { workDir: flags["work-dir"] } : {}),
    }).catch((err: Error) => {
      throw new ConfigError(err.message);
    });
    try {
      process.exitCode = await runDeploy(engine, action as Action, {
        yes: flags.yes === true,
        refresh: flags.refresh === true,
      });
    } catch (err) {
      if (!(err instanceof EngineError)) throw err;
      process.stderr.write(`semail deploy ${action}: ${err.message}\n`);
      process.exitCode = 1;
    }
  },
};

export default deploy;
