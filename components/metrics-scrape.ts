// The daemons' metrics as scrape targets (issue 25 §4): a Prometheus file_sd list on the VM, and,
// only when semail:metricsScrapeFrom names who may scrape from elsewhere, the firewall that lets
// those networks alone reach the metrics ports on the VM's public addresses. Nothing leaves the
// VM otherwise: the ports are published on its loopback only (components/smtp-daemon.ts).
import * as pulumi from "@pulumi/pulumi";
import { hostScript } from "../config/stack/host-script-paths.ts";
import {
  METRICS_PORTS,
  PROMETHEUS_TARGETS_PATH,
  prometheusTargetsFile,
  type ScrapeTarget,
} from "../config/stack/metrics-stack-settings.ts";
import type { SshTarget } from "../lib/ssh-exec.ts";
import { shellLine } from "../lib/shell.ts";
import { HostCommand } from "./host-command.ts";

export interface MetricsScrapeArgs {
  /** The VM, as HostCommand reaches it. */
  readonly vm: pulumi.Input<SshTarget>;
  /** Networks allowed to scrape on the public addresses (CIDRs); empty: loopback only, no firewall. */
  readonly scrapeFrom: readonly string[];
  /** Where each daemon's metrics are published (config/stack/metrics-stack-settings.ts scrapeTargets). */
  readonly targets: readonly ScrapeTarget[];
  /** This SEMail host's name, a label of every target. */
  readonly hostName: string;
}

/** The host script line that lets only `scrapeFrom` reach the metrics ports, reinstalled at boot by its unit. */
export function metricsFirewallCommand(scrapeFrom: readonly string[]): string {
  const ports = Object.values(METRICS_PORTS).flatMap((port) => ["--port", String(port)]);
  const from = scrapeFrom.flatMap((cidr) => ["--from", cidr]);
  return shellLine(...hostScript("metrics-firewall.sh").split(" "), "install", ...ports, ...from, "--unit");
}

export class MetricsScrape extends pulumi.ComponentResource {
  /** What a daemon publishing its metrics port beyond loopback must wait for: the firewall in front of it. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: MetricsScrapeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:MetricsScrape", name, {}, opts);
    const firewall = (...words: string[]) => shellLine(...hostScript("metrics-firewall.sh").split(" "), ...words);
    // Checked at each refresh: a rule deleted on the VM is drift, put back by `up --refresh`.
    this.ready =
      args.scrapeFrom.length === 0
        ? []
        : [
            new HostCommand(
              `${name}-firewall`,
              {
                connection: args.vm,
                create: metricsFirewallCommand(args.scrapeFrom),
                check: firewall("check"),
                delete: firewall("remove"),
              },
              { parent: this },
            ),
          ];
    new HostCommand(
      `${name}-targets`,
      {
        connection: args.vm,
        create: shellLine(
          "sh",
          "-c",
          `install -d -m 0755 "$(dirname "$1")" && cat > "$1.new" && chmod 0644 "$1.new" && mv -f "$1.new" "$1"`,
          "install-scrape-targets",
          PROMETHEUS_TARGETS_PATH,
        ),
        stdin: prometheusTargetsFile(args.targets, args.hostName),
        check: shellLine("sh", "-c", `sha256sum < "$1"`, "check-scrape-targets", PROMETHEUS_TARGETS_PATH),
        delete: shellLine("rm", "-f", PROMETHEUS_TARGETS_PATH),
      },
      { parent: this },
    );
    this.registerOutputs({ targets: args.targets.map((t) => t.target) });
  }
}
