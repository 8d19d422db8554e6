// `command:remote:Command` as pulumi-command v1.2.1 behaves: `create` runs on create, `update`
// (else `create`) on an update, `delete` on delete with the state the resource had; outputs
// are the inputs plus stdout and stderr (one trailing newline trimmed), unknown in a preview.
// A non-zero exit fails the step with the command's output, in upstream's words.
import { randomBytes } from "node:crypto";
import { sshConnection, withCheckedConnection } from "./connection.ts";
import { diffInputs } from "./diff-rules.ts";
import { checkShapes } from "./input-shapes.ts";
import type { CheckFailure, ResourceKind } from "./resource-kind.ts";
import { runRemote } from "./ssh-session.ts";
import { reveal, UNKNOWN, type Props } from "./wire-values.ts";

export const COMMAND_TYPE = "command:remote:Command";

interface Output {
  readonly stdout: string;
  readonly stderr: string;
}

function trimNewline(text: string): string {
  return text.endsWith("\n") ? text.slice(0, -1) : text;
}

/** The previous run's output, as the state holds it. */
function previousOutput(state: Props): Output {
  const { stdout, stderr } = reveal(state) as Props;
  return { stdout: typeof stdout === "string" ? stdout : "", stderr: typeof stderr === "string" ? stderr : "" };
}

/** Runs `command` with the resource's connection, stdin and environment. */
async function run(props: Props, command: string, previous: Output, signal: AbortSignal): Promise<Output> {
  const inputs = reveal(props) as Props;
  const environment = { ...((inputs.environment as Record<string, string> | undefined) ?? {}) };
  // Upstream offers the last output to the next run unless addPreviousOutputInEnv is false.
  if (inputs.addPreviousOutputInEnv !== false) {
    if (previous.stdout !== "") environment.PULUMI_COMMAND_STDOUT = previous.stdout;
    if (previous.stderr !== "") environment.PULUMI_COMMAND_STDERR = previous.stderr;
  }
  const stdin = typeof inputs.stdin === "string" && inputs.stdin !== "" ? { text: inputs.stdin } : undefined;
  const result = await runRemote(sshConnection(inputs.connection), command, {
    env: environment,
    signal,
    ...(stdin ? { stdin } : {}),
  });
  if (result.exitCode !== 0) {
    throw new Error(
      `Process exited with status ${result.exitCode}: running ${JSON.stringify(command)}:\n${result.combined}`,
    );
  }
  return { stdout: trimNewline(result.stdout), stderr: trimNewline(result.stderr) };
}

function commandText(props: Props, name: "create" | "update" | "delete"): string | undefined {
  const value = (reveal(props) as Props)[name];
  return typeof value === "string" ? value : undefined;
}

export const remoteCommand: ResourceKind = {
  outputsOnly: ["stdout", "stderr"],

  check(news) {
    const { connection: _checkedApart, ...rest } = news;
    const failures: CheckFailure[] = checkShapes(
      rest,
      {
        create: "string",
        update: "string",
        delete: "string",
        stdin: "string",
        triggers: "array",
        environment: "string map",
        addPreviousOutputInEnv: "boolean",
      },
      [],
    );
    return withCheckedConnection(news, failures);
  },

  diff: (oldInputs, news) => diffInputs(oldInputs, news, ["triggers"]),

  async create(inputs, op) {
    if (op.preview) return { id: "", outputs: { ...inputs, stdout: UNKNOWN, stderr: UNKNOWN } };
    const command = commandText(inputs, "create");
    const output =
      command === undefined
        ? { stdout: "", stderr: "" }
        : await run(inputs, command, { stdout: "", stderr: "" }, op.signal);
    return { id: `${op.name}${randomBytes(4).toString("hex")}`, outputs: { ...inputs, ...output } };
  },

  async update(olds, news, op) {
    if (op.preview) return { ...news, stdout: UNKNOWN, stderr: UNKNOWN };
    const previous = previousOutput(olds);
    const command = commandText(news, "update") ?? commandText(news, "create");
    const output = command === undefined ? previous : await run(news, command, previous, op.signal);
    return { ...news, ...output };
  },

  async delete(olds, op) {
    const command = commandText(olds, "delete");
    if (command !== undefined) await run(olds, command, previousOutput(olds), op.signal);
  },
};
