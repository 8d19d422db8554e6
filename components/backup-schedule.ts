// The backups on the VM (services/backup, `semail backup`): the repository's password (a stack
// secret, written root-only), the settings `semail backup` reads there, and a systemd timer that
// runs it daily in the daemons image. The directory runs in its own container, so the unit dumps
// it there first (`docker exec … slapcat`) into the backup's state folder, where `semail backup`
// reads the dump (`backup.slapcat: [cat, FILE]`), and removes it afterwards: the dump holds the
// password hashes, and the snapshot, encrypted, keeps it. The result is in status.json, which
// `semail report` reads.
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { stringify } from "yaml";
import { shellLine, shellQuote } from "../lib/shell.ts";
import { isOnCalendar } from "../config/stack/systemd-calendar.ts";
import { stdinFileCommand, timerCommand, timerUnit } from "./systemd-units.ts";

export interface BackupScheduleArgs {
  /** SSH to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The daemons image (it carries `semail` and restic). */
  readonly image: pulumi.Input<string>;
  /** The restic repository (a path on the VM, sftp:, s3:, rest:...). */
  readonly repository: string;
  /** The repository's password: a stack secret. */
  readonly password: pulumi.Input<string>;
  /** Where the password and the settings live on the VM (root only). */
  readonly configDir: string;
  /** status.json, the staging copy and the directory's dump on the VM. */
  readonly stateDir: string;
  /** What is backed up, as the daemons see it (the same paths on the VM). */
  readonly mailRoot: string;
  readonly usersFile: string;
  readonly spool: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** More files or folders: the DKIM keys, the ACME account key and state, the Pulumi state. */
  readonly paths: readonly string[];
  /** The directory's container (`docker exec NAME slapcat`) and its base DN; "" for no directory dump. */
  readonly directoryContainer: string;
  readonly ldapBaseDn: string;
  /** When the timer runs (systemd OnCalendar), e.g. "daily" or "*-*-* 03:00". */
  readonly onCalendar: string;
  /** Retention: daily, weekly and monthly snapshots kept. */
  readonly keep: { readonly daily: number; readonly weekly: number; readonly monthly: number };
}

/** What is wrong with the backup's stack settings, as `pulumi config` keys; empty when they are usable. */
export function validateBackupSchedule(
  args: Pick<BackupScheduleArgs, "repository" | "onCalendar" | "keep" | "paths">,
): string[] {
  const problems: string[] = [];
  if (args.repository.trim() === "" || /[\r\n]/.test(args.repository))
    problems.push("backupRepository: give restic's repository, e.g. /srv/backup/semail or sftp:backup@host:/semail");
  if (!isOnCalendar(args.onCalendar))
    problems.push(
      `backupSchedule: ${JSON.stringify(args.onCalendar)} is not a systemd OnCalendar such as daily or *-*-* 03:00`,
    );
  for (const [name, value] of Object.entries(args.keep))
    if (!Number.isInteger(value) || value < 0) problems.push(`backupKeep: ${name} must be a whole number, 0 or more`);
  for (const p of args.paths)
    if (!p.startsWith("/")) problems.push(`backupPaths: ${JSON.stringify(p)} is not an absolute path`);
  return problems;
}

const dumpFile = (args: Pick<BackupScheduleArgs, "stateDir">) => `${args.stateDir}/directory-dump.ldif`;

/** The settings file `semail backup` reads on the VM (in the container, at the same paths). */
export function backupSettingsYaml(args: Omit<BackupScheduleArgs, "vm" | "image" | "password">): string {
  return stringify({
    users: args.usersFile,
    tls: { cert: args.tlsCert, key: args.tlsKey },
    inbound: { mailRoot: args.mailRoot },
    outbound: { spool: args.spool },
    backup: {
      repository: args.repository,
      passwordFile: `${args.configDir}/restic-password`,
      stateDir: args.stateDir,
      slapcat: args.directoryContainer === "" ? [] : ["cat", dumpFile(args)],
      paths: [...args.paths],
      keepDaily: args.keep.daily,
      keepWeekly: args.keep.weekly,
      keepMonthly: args.keep.monthly,
    },
    log: { level: "info" },
  });
}

/** The systemd service and timer: the directory's dump, then `semail backup` in the daemons image. */
export function backupUnits(args: BackupScheduleArgs, image: string): { service: string; timer: string } {
  const local = args.repository.startsWith("/") ? [args.repository] : [];
  const mounts = [
    args.configDir,
    args.stateDir,
    args.mailRoot,
    args.usersFile,
    args.spool,
    args.tlsCert,
    args.tlsKey,
    ...args.paths,
    ...local,
  ];
  const run = [
    "/usr/bin/docker",
    "run",
    "--rm",
    "--name",
    "semail-backup",
    ...[...new Set(mounts)].flatMap((m) => ["-v", `${m}:${m}`]),
    image,
    "backup",
    "--config",
    `${args.configDir}/semail.yaml`,
  ];
  const dump = dumpFile(args);
  const slapcat =
    args.directoryContainer === ""
      ? []
      : [
          `ExecStartPre=/bin/sh -c ${shellQuote(`umask 077 && docker exec ${shellQuote(args.directoryContainer)} slapcat -b ${shellQuote(args.ldapBaseDn)} > ${shellQuote(`${dump}.new`)} && mv -f ${shellQuote(`${dump}.new`)} ${shellQuote(dump)}`)}`,
          `ExecStopPost=/bin/rm -f ${dump} ${dump}.new`,
        ];
  return {
    service: [
      "# Written by SEMail (components/backup-schedule.ts).",
      "[Unit]",
      "Description=SEMail: back up the mail, the directory, the keys and the state with restic",
      "After=docker.service",
      "Requires=docker.service",
      "",
      "[Service]",
      "Type=oneshot",
      ...slapcat,
      `ExecStart=${shellLine(...run)}`,
      "",
    ].join("\n"),
    timer: timerUnit("components/backup-schedule.ts", "SEMail: the backup, on its schedule", [
      `OnCalendar=${args.onCalendar}`,
      "RandomizedDelaySec=30min",
    ]),
  };
}

export class BackupSchedule extends pulumi.ComponentResource {
  constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:BackupSchedule", name, {}, opts);
    const problems = validateBackupSchedule(args);
    if (problems.length > 0) throw new Error(`invalid backup settings:\n  ${problems.join("\n  ")}`);
    // The password by rename, root only; the secret travels on stdin, never on a command line.
    const password = stdinFileCommand(
      `${name}-password`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "restic-password",
        label: "install-backup-password",
        rootOnly: true,
        stdin: pulumi.secret(args.password),
      },
      this,
    );
    const settings = stdinFileCommand(
      `${name}-settings`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "semail.yaml",
        label: "install-backup-settings",
        alsoDir: { path: args.stateDir, mode: "0700" },
        rootOnly: false,
        stdin: backupSettingsYaml(args),
      },
      this,
    );
    // Removing the schedule leaves the repository and its snapshots alone: they are the backups.
    timerCommand(
      `${name}-timer`,
      {
        vm: args.vm,
        unit: "semail-backup",
        units: pulumi.output(args.image).apply((image) => backupUnits(args, image)),
      },
      { parent: this, dependsOn: [password, settings] },
    );
    this.registerOutputs({});
  }
}
