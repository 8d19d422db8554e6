// The daily report on the VM (issue 25 §3): a systemd timer that runs `semail report --summary
// --mail` in the daemons image, which stores the findings and the last day's traffic in the
// admin mailbox, where postmaster@ goes (cli/report-mail.ts). The traffic comes from the
// daemons' own log lines, read with `docker logs` through the host's socket as the ban watcher
// does; the container shares inbound's network (the directory and DNS as the daemons see them)
// and its process namespace, which the mbox store needs to tell a live writer from a dead one.
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { shellLine } from "../lib/shell.ts";
import { isOnCalendar } from "../config/stack/systemd-calendar.ts";
import { stdinFileCommand, timerCommand, timerUnit } from "./systemd-units.ts";

/** The daemons' containers (components/smtp-daemon.ts names them semail-<mode>). */
const INBOUND = "semail-inbound";
const OUTBOUND = "semail-outbound";
const DOCKER_SOCKET = "/var/run/docker.sock";

export interface ReportScheduleArgs {
  /** SSH to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The daemons image (it carries `semail` and the Docker CLI). */
  readonly image: pulumi.Input<string>;
  /** The daemons' settings file (config/stack/daemon-settings.ts): the report checks what they run with. */
  readonly settings: pulumi.Input<string>;
  /** Where that settings file is written on the VM. */
  readonly configDir: string;
  /** Paths the report reads, as the daemons see them (the same on the VM). */
  readonly mailRoot: string;
  readonly usersDir: string;
  readonly spool: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** When the timer runs (systemd OnCalendar), e.g. "daily" or "*-*-* 06:00". */
  readonly onCalendar: string;
}

/** The `docker run` of the report: the last 24 hours of both daemons' logs, into the admin mailbox. */
export function reportRunCommand(args: Omit<ReportScheduleArgs, "vm" | "image" | "settings">, image: string): string[] {
  return [
    "/usr/bin/docker",
    "run",
    "--rm",
    "--name",
    "semail-report",
    "--network",
    `container:${INBOUND}`,
    "--pid",
    `container:${INBOUND}`,
    // The image's health check asks an SMTP daemon, which this is not.
    "--no-healthcheck",
    "-v",
    `${args.configDir}:${args.configDir}:ro`,
    // Writable: the report is stored there. rslave, as inbound's: the users' filesystems show.
    "-v",
    `${args.mailRoot}:${args.mailRoot}:rslave`,
    ...[args.usersDir, args.spool, args.tlsCert, args.tlsKey].flatMap((m) => ["-v", `${m}:${m}:ro`]),
    "-v",
    `${DOCKER_SOCKET}:${DOCKER_SOCKET}`,
    image,
    "report",
    "--config",
    `${args.configDir}/semail.yaml`,
    "--summary",
    "--since",
    "24h",
    "--log",
    `docker:${INBOUND}`,
    "--log",
    `docker:${OUTBOUND}`,
    "--mail",
  ];
}

/** The systemd service and timer. */
export function reportUnits(
  args: Omit<ReportScheduleArgs, "vm" | "image" | "settings">,
  image: string,
): { service: string; timer: string } {
  return {
    service: [
      "# Written by SEMail (components/report-schedule.ts).",
      "[Unit]",
      "Description=SEMail: the report and the day's traffic, into the admin mailbox",
      "After=docker.service",
      "Requires=docker.service",
      "",
      "[Service]",
      "Type=oneshot",
      // A report with a FAIL exits 1 and so leaves the unit failed: `systemctl --failed` shows it too.
      `ExecStart=${shellLine(...reportRunCommand(args, image))}`,
      "",
    ].join("\n"),
    timer: timerUnit("components/report-schedule.ts", "SEMail: the daily report, on its schedule", [
      `OnCalendar=${args.onCalendar}`,
    ]),
  };
}

export class ReportSchedule extends pulumi.ComponentResource {
  constructor(name: string, args: ReportScheduleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:ReportSchedule", name, {}, opts);
    if (!isOnCalendar(args.onCalendar))
      throw new Error(
        `reportSchedule: ${JSON.stringify(args.onCalendar)} is not a systemd OnCalendar such as daily or *-*-* 06:00`,
      );
    // Not root-only: the daemons' settings hold no secret (the forward secret is a file of its own).
    const settings = stdinFileCommand(
      `${name}-settings`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "semail.yaml",
        label: "install-report-settings",
        rootOnly: false,
        stdin: args.settings,
      },
      this,
    );
    // Removing the schedule leaves the reports already stored alone: they are mail.
    timerCommand(
      `${name}-timer`,
      {
        vm: args.vm,
        unit: "semail-report",
        units: pulumi.output(args.image).apply((image) => reportUnits(args, image)),
      },
      { parent: this, dependsOn: [settings] },
    );
    this.registerOutputs({});
  }
}
