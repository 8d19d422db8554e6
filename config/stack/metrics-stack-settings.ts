// The stack's setting of the daemons' Prometheus metrics (issue 25 §4): by default each daemon
// serves them on the VM's loopback only and nothing leaves the VM; semail:metricsScrapeFrom
// names the networks whose Prometheus may scrape them on the VM's public addresses, and the
// firewall lets in those alone (assets/host/metrics-firewall.sh).
import { parseNetwork } from "../../lib/ip-networks.ts";

/** Setting name → [default, description], as SETTINGS in stack-config.ts. */
export const METRICS_SETTINGS = {
  metricsScrapeFrom: [
    "",
    "Networks whose Prometheus may scrape the daemons' metrics on the VM's public addresses (ports 9101 inbound, 9102 outbound), comma-separated CIDRs or addresses; the firewall lets in those alone. Empty: the metrics are on the VM's loopback only and nothing leaves the VM.",
  ],
} as const;

/** Where each daemon's metrics are published on the VM (the container listens on the same port). */
export const METRICS_PORTS = { inbound: 9101, outbound: 9102 } as const;

/** The Prometheus file_sd list of the scrape targets, written on the VM. */
export const PROMETHEUS_TARGETS_PATH = "/etc/semail/prometheus-targets.json";

export interface MetricsStackSettings {
  /** CIDRs allowed to scrape on the public addresses (a bare address as /32 or /128); empty: loopback only. */
  readonly metricsScrapeFrom: readonly string[];
}

/** Parses the raw value (trimmed; the default where unset); every problem names the setting. */
export function parseMetricsStackSettings(raw: Readonly<Record<keyof typeof METRICS_SETTINGS, string>>): {
  readonly settings: MetricsStackSettings;
  readonly problems: string[];
} {
  const problems: string[] = [];
  const networks: string[] = [];
  for (const given of raw.metricsScrapeFrom.split(/[\s,]+/).filter(Boolean)) {
    const network = parseNetwork(given);
    if (network === undefined) {
      problems.push(
        `semail:metricsScrapeFrom ${JSON.stringify(given)} is not an address or a CIDR such as 198.51.100.7 or 198.51.100.0/24 (pulumi config set metricsScrapeFrom 198.51.100.7)`,
      );
      continue;
    }
    const cidr = `${network.address}/${network.prefix}`;
    if (!networks.includes(cidr)) networks.push(cidr);
  }
  return { settings: { metricsScrapeFrom: networks }, problems };
}

/** One daemon's scrape target as the VM publishes it: `host:port` ([v6]:port), and who it is. */
export interface ScrapeTarget {
  readonly daemon: keyof typeof METRICS_PORTS;
  readonly target: string;
}

/**
 * Where each daemon's metrics can be scraped: on the VM's loopback by default (a Prometheus on
 * the VM), on its public addresses when metricsScrapeFrom names who may.
 */
export function scrapeTargets(settings: MetricsStackSettings, publicAddresses: readonly string[]): ScrapeTarget[] {
  const hosts = settings.metricsScrapeFrom.length === 0 ? ["127.0.0.1"] : publicAddresses;
  return (Object.keys(METRICS_PORTS) as (keyof typeof METRICS_PORTS)[]).flatMap((daemon) =>
    hosts.map((host) => ({
      daemon,
      target: `${host.includes(":") ? `[${host}]` : host}:${METRICS_PORTS[daemon]}`,
    })),
  );
}

/** The Prometheus file_sd JSON of the targets (https://prometheus.io/docs/guides/file-sd/), labelled by daemon and SEMail host. */
export function prometheusTargetsFile(targets: readonly ScrapeTarget[], hostName: string): string {
  const groups = (Object.keys(METRICS_PORTS) as (keyof typeof METRICS_PORTS)[]).map((daemon) => ({
    targets: targets.filter((t) => t.daemon === daemon).map((t) => t.target),
    labels: { daemon, semail_host: hostName },
  }));
  return `${JSON.stringify(groups, null, 2)}\n`;
}
