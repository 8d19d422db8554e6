// The automatic bans on the VM (services/bans, `semail bans run`): a long-running systemd
// service that runs the daemons image, follows the daemons', Dovecot's and the host sshd's logs
// and bans with REJECT rules in a chain of its own, in iptables and ip6tables.
//
// The container shares the host's network (its rules are the host's) with NET_ADMIN and NET_RAW.
// It hooks into INPUT (the host's sshd) and DOCKER-USER: the daemons' and Dovecot's ports are
// published by Docker, so their packets are forwarded to the containers and never cross INPUT.
//
// The containers log with Docker's default json-file driver, so their logs are read as they are
// with the Docker CLI through the host's socket (`docker logs -f`); journald would see them only
// if every container were moved to its log driver (each replaced, and journald's per-service
// rate limit would drop lines in exactly the flood the bans are for). The host's sshd logs to
// the journal only (Debian bookworm installs no rsyslog, so there is no auth.log): journalctl
// reads it from the journal's folders, mounted read-only with /etc/machine-id, which names them.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { stringify } from "yaml";
import { shellLine } from "../lib/shell.ts";
import { stdinFileCommand, UNIT_DIR, unitsCommand, unitsScript } from "./systemd-units.ts";

/** The chain of the bans, and the chains that jump to it. */
export const BAN_CHAIN = "SEMAIL-BANS";
export const BAN_HOOKS = ["INPUT", "DOCKER-USER"] as const;
/** What the container sees of the host: Docker's socket and the journal's folders. */
export const DOCKER_SOCKET = "/var/run/docker.sock";
export const JOURNAL_DIRS = ["/var/log/journal", "/run/log/journal", "/etc/machine-id"] as const;

/** A log the watcher follows: which parser reads it, and the container or unit that writes it. */
export type BanLog =
  | { readonly parser: "smtp" | "dovecot"; readonly container: string }
  | { readonly parser: "sshd"; readonly unit: string };

export interface BanWatcherArgs {
  /** SSH to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The daemons image (it carries `semail`, iptables, the Docker CLI and journalctl). */
  readonly image: pulumi.Input<string>;
  /** Where the settings live on the VM (root only). */
  readonly configDir: string;
  /** bans.json: the bans in force, which outlive a restart. */
  readonly stateDir: string;
  /** The logs to follow. */
  readonly logs: readonly BanLog[];
  /** Networks never banned (CIDRs): the users', the services', the admins'. */
  readonly allow: pulumi.Input<readonly string[]>;
}

/** What is wrong with the arguments; empty when they are usable. */
export function validateBanWatcher(args: Pick<BanWatcherArgs, "configDir" | "stateDir" | "logs">): string[] {
  const problems: string[] = [];
  if (args.logs.length === 0) problems.push("ban watcher: give at least one log to follow");
  for (const dir of [args.configDir, args.stateDir])
    if (!/^\/[A-Za-z0-9._/-]+$/.test(dir)) problems.push(`ban watcher: ${JSON.stringify(dir)} is not an absolute path`);
  for (const log of args.logs) {
    const name = "container" in log ? log.container : log.unit;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]*$/.test(name))
      problems.push(`ban watcher: ${JSON.stringify(name)} is not a container or unit name`);
  }
  return problems;
}

/** The command whose output is that log, from now on (a restart must not count old lines again). */
export function banSourceCommand(log: BanLog): string[] {
  return "container" in log
    ? ["docker", "logs", "--follow", "--since", "0s", log.container]
    : ["journalctl", "--follow", "--lines", "0", "--output", "cat", "--unit", log.unit];
}

/** The settings file `semail bans run` reads on the VM (in the container, at the same paths). */
export function banSettingsYaml(args: Pick<BanWatcherArgs, "stateDir" | "logs">, allow: readonly string[]): string {
  return stringify({
    bans: {
      allow: [...allow],
      chain: BAN_CHAIN,
      hookFrom: [...BAN_HOOKS],
      stateDir: args.stateDir,
      sources: args.logs.map((log) => ({ parser: log.parser, command: banSourceCommand(log) })),
    },
    log: { level: "info" },
  });
}

/** The `docker run` of the watcher: the host's network, the capabilities iptables needs, its mounts. */
export function banRunCommand(args: Pick<BanWatcherArgs, "configDir" | "stateDir">, image: string): string[] {
  const readOnly = [args.configDir, ...JOURNAL_DIRS].flatMap((m) => ["-v", `${m}:${m}:ro`]);
  return [
    "/usr/bin/docker",
    "run",
    "--rm",
    "--name",
    "semail-bans",
    "--network",
    "host",
    "--cap-add",
    "NET_ADMIN",
    "--cap-add",
    "NET_RAW",
    // The image's health check asks an SMTP daemon, which this is not.
    "--no-healthcheck",
    ...readOnly,
    "-v",
    `${args.stateDir}:${args.stateDir}`,
    "-v",
    `${DOCKER_SOCKET}:${DOCKER_SOCKET}`,
    image,
    "bans",
    "run",
    "--config",
    `${args.configDir}/semail.yaml`,
  ];
}

/** The systemd service: always running, started again whenever it stops. */
export function banUnit(args: Pick<BanWatcherArgs, "configDir" | "stateDir">, image: string): string {
  return [
    "# Written by SEMail (components/ban-watcher.ts).",
    "[Unit]",
    "Description=SEMail: ban addresses that keep failing logins (semail bans run)",
    "After=docker.service",
    "Requires=docker.service",
    "",
    "[Service]",
    // A container left by a crash would hold the name.
    "ExecStartPre=-/usr/bin/docker rm -f semail-bans",
    `ExecStart=${shellLine(...banRunCommand(args, image))}`,
    "ExecStop=/usr/bin/docker stop semail-bans",
    "Restart=always",
    "RestartSec=5s",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * Removing the watcher stops it and lifts every ban: the jumps, then the chain, in both families.
 * The disabled unit file stays (the next deploy writes over it): a delete here removes no file,
 * as the stack's tests ask of every delete that is not protected.
 */
export function banRemoveCommand(): string {
  const lines = ["systemctl disable --now semail-bans.service"];
  for (const program of ["iptables", "ip6tables"]) {
    for (const hook of BAN_HOOKS) lines.push(`${program} -w 10 -D ${hook} -j ${BAN_CHAIN}`);
    lines.push(`${program} -w 10 -F ${BAN_CHAIN}`, `${program} -w 10 -X ${BAN_CHAIN}`);
  }
  // Each step may find nothing to undo.
  return lines.map((l) => `${l} 2>/dev/null || true`).join("; ");
}

export class BanWatcher extends pulumi.ComponentResource {
  constructor(name: string, args: BanWatcherArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:BanWatcher", name, {}, opts);
    const problems = validateBanWatcher(args);
    if (problems.length > 0) throw new Error(`invalid ban watcher:\n  ${problems.join("\n  ")}`);
    const yaml = pulumi.output(args.allow).apply((allow) => banSettingsYaml(args, allow));
    const settings = stdinFileCommand(
      `${name}-settings`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "semail.yaml",
        label: "install-ban-settings",
        alsoDir: { path: args.stateDir, mode: "0700" },
        rootOnly: true,
        stdin: yaml,
      },
      this,
    );
    // The settings' hash is in the script, so new settings re-run it (an update, not a
    // replacement: no triggers, whose create-before-delete would run the delete below after
    // the new unit is in); restart, not start, so new settings or a new image take effect.
    const script = pulumi.all([args.image, yaml]).apply(([image, text]) =>
      unitsScript({
        head: [`# settings sha256 ${createHash("sha256").update(text).digest("hex")}`],
        files: [[`${UNIT_DIR}/semail-bans.service`, banUnit(args, image)]],
        start: ["systemctl enable semail-bans.service", "systemctl restart semail-bans.service"],
      }),
    );
    unitsCommand(
      `${name}-service`,
      { vm: args.vm, script, remove: banRemoveCommand() },
      { parent: this, dependsOn: [settings] },
    );
    this.registerOutputs({});
  }
}
