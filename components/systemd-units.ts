// What the VM's systemd units need from a component (the backup and report schedules, the ACME
// certificate, the ban watcher): a root-only settings or secret file written from stdin,
// and one command that writes the units (and their files), reloads systemd and starts
// them, whose delete stops them; for a service run by a timer, that command whole. Each
// component keeps its own unit texts.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellLine, shellQuote } from "../lib/shell.ts";

/** Where the units go. */
export const UNIT_DIR = "/etc/systemd/system";

export interface StdinFileArgs {
  readonly vm: types.input.remote.ConnectionArgs;
  /** The root-only (0700) folder the file goes in. */
  readonly dir: string;
  /** The file's name in `dir`. */
  readonly file: string;
  /** Names the shell ($0): "install-acme-key". */
  readonly label: string;
  /** A second folder made with it (the component's state), with its mode. */
  readonly alsoDir?: { readonly path: string; readonly mode: "0700" | "0755" };
  /** umask 077: the file is root's alone. */
  readonly rootOnly: boolean;
  /** The file's content; it travels on stdin, never on a command line. */
  readonly stdin: pulumi.Input<string>;
}

/** Writes `dir/file` from stdin, by rename. */
export function stdinFileCommand(name: string, args: StdinFileArgs, parent: pulumi.Resource): remote.Command {
  const dirs =
    args.alsoDir === undefined
      ? 'install -d -m 0700 "$1"'
      : args.alsoDir.mode === "0700"
        ? 'install -d -m 0700 "$1" "$2"'
        : `install -d -m 0700 "$1" && install -d -m ${args.alsoDir.mode} "$2"`;
  const file = `"$1/${args.file}"`;
  const temporary = `"$1/${args.file}.new"`;
  const script = [dirs, ...(args.rootOnly ? ["umask 077"] : []), `cat > ${temporary}`, `mv -f ${temporary} ${file}`];
  return new remote.Command(
    name,
    {
      connection: args.vm,
      create: shellLine(
        "sh",
        "-c",
        script.join(" && "),
        args.label,
        args.dir,
        ...(args.alsoDir ? [args.alsoDir.path] : []),
      ),
      stdin: args.stdin,
    },
    { parent },
  );
}

/** A shell line writing `text` to `file`. */
export function writeFileLine(file: string, text: string): string {
  return `printf '%s' ${shellQuote(text)} > ${shellQuote(file)}`;
}

/** A timer unit's text: written by `source`, described, on its `timing` lines; catches up on runs missed while off. */
export function timerUnit(source: string, description: string, timing: readonly string[]): string {
  return [
    `# Written by SEMail (${source}).`,
    "[Unit]",
    `Description=${description}`,
    "",
    "[Timer]",
    ...timing,
    "Persistent=true",
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
}

export interface UnitsScript {
  /** Lines before the files (a comment that changes the script when the settings do). */
  readonly head?: readonly string[];
  /** Each file to write, units first: [path, text]. */
  readonly files: readonly (readonly [string, string])[];
  /** The systemctl lines after the daemon-reload. */
  readonly start: readonly string[];
}

/** The script (`sh -s`) that writes the files, reloads systemd and starts the units. */
export function unitsScript(s: UnitsScript): string {
  return [
    "set -eu",
    ...(s.head ?? []),
    ...s.files.map(([file, text]) => writeFileLine(file, text)),
    "systemctl daemon-reload",
    ...s.start,
    "",
  ].join("\n");
}

/** A timer's delete: stop and disable it, remove it and its service, reload systemd. */
function removeTimerCommand(unit: string): string {
  return `systemctl disable --now ${unit}.timer; rm -f ${UNIT_DIR}/${unit}.service ${UNIT_DIR}/${unit}.timer; systemctl daemon-reload`;
}

/** Runs the units' script on the VM; `remove` undoes it on delete. */
export function unitsCommand(
  name: string,
  args: { vm: types.input.remote.ConnectionArgs; script: pulumi.Input<string>; remove: string },
  opts: pulumi.CustomResourceOptions,
): remote.Command {
  return new remote.Command(
    name,
    { connection: args.vm, create: "sh -s", stdin: args.script, delete: args.remove },
    opts,
  );
}

/** A service and the timer that runs it: their texts, and what else the script writes and starts. */
export interface TimerArgs {
  readonly vm: types.input.remote.ConnectionArgs;
  /** The units' name: "semail-report" is semail-report.service, run by semail-report.timer. */
  readonly unit: string;
  readonly units: pulumi.Input<{ readonly service: string; readonly timer: string }>;
  /** Lines before the files (UnitsScript.head). */
  readonly head?: readonly string[];
  /** Files written after the two units: [path, text]. */
  readonly moreFiles?: pulumi.Input<readonly (readonly [string, string])[]>;
  /** systemctl lines after the timer is enabled and started. */
  readonly moreStart?: readonly string[];
}

/** Writes the service and its timer, enables and starts the timer; its delete removes them. */
export function timerCommand(name: string, args: TimerArgs, opts: pulumi.CustomResourceOptions): remote.Command {
  const script = pulumi.all([args.units, args.moreFiles ?? []]).apply(([units, moreFiles]) =>
    unitsScript({
      ...(args.head ? { head: args.head } : {}),
      files: [
        [`${UNIT_DIR}/${args.unit}.service`, units.service],
        [`${UNIT_DIR}/${args.unit}.timer`, units.timer],
        ...moreFiles,
      ],
      start: [`systemctl enable --now ${args.unit}.timer`, ...(args.moreStart ?? [])],
    }),
  );
  return unitsCommand(name, { vm: args.vm, script, remove: removeTimerCommand(args.unit) }, opts);
}
