// One subcommand: its flags (each overriding a setting), --config and --help.
import { parseArgs } from "node:util";
import { ConfigError, loadSettings, type Settings } from "../config/settings.ts";

export interface Flag {
  /** Long flag name without dashes, e.g. "listen". */
  readonly name: string;
  /** Setting path the flag overrides, e.g. "inbound.listen"; omit for a flag that is not a setting. */
  readonly setting?: string;
  readonly type: "string" | "boolean";
  /** May be given more than once; the values form a list. */
  readonly multiple?: boolean;
  /** Placeholder in --help, e.g. "ADDR:PORT". */
  readonly value?: string;
  readonly description: string;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Extra usage after the name, e.g. "list | flush | remove ID". */
  readonly usage?: string;
  readonly flags: readonly Flag[];
  /** Where the command keeps its own settings instead of taking --config (semail start). */
  readonly ownSettings?: string;
  /** Runs with validated settings; resolves when the command is done (a daemon: when it stops). */
  run(settings: Settings, args: { positionals: string[]; flags: Readonly<Record<string, unknown>> }): Promise<void>;
}

export function helpText(command: Command): string {
  const rows = [
    command.ownSettings
      ? ["(settings)", `kept in ${command.ownSettings}; --config is not taken`]
      : ["--config FILE", "settings file (YAML); flags override it"],
    ...command.flags.map((f) => [
      `--${f.name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`,
      `${f.description}${f.setting ? ` [${f.setting}]` : ""}${f.multiple ? " (repeatable)" : ""}`,
    ]),
    ["--help", "show this help"],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  return [
    `usage: semail ${command.name}${command.usage ? ` ${command.usage}` : ""} [options]`,
    "",
    command.summary,
    "",
    ...rows.map(([flag, text]) => `  ${flag!.padEnd(width)}${text}`),
    "",
  ].join("\n");
}

/** Parses argv for `command`, loads settings, runs it. Usage and config errors throw ConfigError. */
export async function runCommand(command: Command, argv: readonly string[]): Promise<void> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    config: { type: "string" },
    help: { type: "boolean" },
  };
  for (const flag of command.flags)
    options[flag.name] = { type: flag.type, ...(flag.multiple ? { multiple: true } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ConfigError(`semail ${command.name}: ${(err as Error).message}\n\n${helpText(command)}`);
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(command));
    return;
  }
  if (command.ownSettings && parsed.values.config !== undefined) {
    throw new ConfigError(
      `--config: semail ${command.name} keeps its settings in ${command.ownSettings}; edit that file instead`,
    );
  }
  const overrides: Record<string, unknown> = {};
  for (const flag of command.flags) {
    const value = parsed.values[flag.name];
    if (flag.setting && value !== undefined) overrides[flag.setting] = value;
  }
  const settings = await loadSettings(parsed.values.config as string | undefined, overrides);
  await command.run(settings, { positionals: parsed.positionals, flags: parsed.values });
}
