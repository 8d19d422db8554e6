// One SEMail SMTP daemon (inbound or outbound) as a container on the VM, from the daemons
// image (components/semail-image.ts) both share.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

export type SmtpMode = "inbound" | "outbound";

export interface SmtpDaemonArgs {
  /** inbound: receives for our users on 25/587/465; outbound: submission and relay. */
  readonly mode: SmtpMode;
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  /** The daemons image. */
  readonly image: pulumi.Input<string>;
  /** The settings file the daemon reads (YAML text). */
  readonly settings: pulumi.Input<string>;
  /** Public addresses inbound publishes its ports on. */
  readonly publicAddresses: readonly string[];
  /** Host paths on the VM. */
  readonly paths: {
    /** Directory holding the users list (mounted whole: the list is replaced by rename). */
    readonly usersDir: string;
    readonly mailRoot: string;
    readonly spool: string;
    readonly tlsCert: string;
    readonly tlsKey: string;
    /** The secret of forwards and lists' remote copies (config/stack/daemon-settings.ts), read by both. */
    readonly forwardSecret: string;
  };
  /** Docker networks to join, with the alias `semail-<mode>`; a fixed address where the firewall names it. */
  readonly networks: readonly DaemonNetwork[];
  /** Its metrics port (its settings' metricsListen), published on the VM's loopback, and on the public addresses when `public`. */
  readonly metrics?: DaemonMetricsPort | undefined;
}

export interface DaemonMetricsPort {
  readonly port: number;
  /** Published on the public addresses too: semail:metricsScrapeFrom is set, and the firewall lets in only those networks. */
  readonly public: boolean;
}

export type DaemonNetwork =
  | pulumi.Input<string>
  | { readonly name: pulumi.Input<string>; readonly ipv4Address: string };

/** Where the settings file sits in the container. */
export const SETTINGS_PATH = "/usr/local/etc/semail.yaml";
export const INBOUND_PORTS = [25, 587, 465] as const;
export const OUTBOUND_PORT = 587;

/** Published ports: inbound on the public addresses, outbound only on the VM's loopback; then the metrics port. */
export function daemonPorts(
  mode: SmtpMode,
  publicAddresses: readonly string[],
  metrics?: DaemonMetricsPort,
): docker.types.input.ContainerPort[] {
  const ports: docker.types.input.ContainerPort[] =
    mode === "outbound"
      ? [{ internal: OUTBOUND_PORT, external: OUTBOUND_PORT, ip: "127.0.0.1" }]
      : publicAddresses.flatMap((ip) => INBOUND_PORTS.map((port) => ({ internal: port, external: port, ip })));
  if (metrics !== undefined) {
    for (const ip of ["127.0.0.1", ...(metrics.public ? publicAddresses : [])])
      ports.push({ internal: metrics.port, external: metrics.port, ip });
  }
  return ports;
}

/** Bind mounts: the users list and TLS read-only; the mail root (inbound) or spool (outbound) writable. */
export function daemonMounts(mode: SmtpMode, paths: SmtpDaemonArgs["paths"]): docker.types.input.ContainerMount[] {
  const mounts: docker.types.input.ContainerMount[] = [
    { type: "bind", source: paths.usersDir, target: paths.usersDir, readOnly: true },
    { type: "bind", source: paths.tlsCert, target: paths.tlsCert, readOnly: true },
    { type: "bind", source: paths.tlsKey, target: paths.tlsKey, readOnly: true },
    { type: "bind", source: paths.forwardSecret, target: paths.forwardSecret, readOnly: true },
  ];
  if (mode === "inbound") {
    // rslave: a mailbox filesystem mounted under the root later shows up in the container.
    mounts.push({
      type: "bind",
      source: paths.mailRoot,
      target: paths.mailRoot,
      bindOptions: { propagation: "rslave" },
    });
  } else {
    mounts.push({ type: "bind", source: paths.spool, target: paths.spool });
  }
  return mounts;
}

/**
 * Open files a daemon may hold (RLIMIT_NOFILE): a file each for maxConnections sessions (1000 by
 * default) with room to spare for the mbox files, the spool and LDAP. Not more: a container may
 * not raise it past the hard limit dockerd itself runs under (Debian's unit gives dockerd far
 * more; a dockerd started by hand inherits its shell's, 20,000 on the test machines).
 */
export const DAEMON_OPEN_FILES = 16_384;

export class SmtpDaemon extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: SmtpDaemonArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:SmtpDaemon", name, {}, opts);
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: `semail-${args.mode}`,
        image: args.image,
        command: [args.mode, "--config", SETTINGS_PATH],
        restart: "unless-stopped",
        mustRun: true,
        uploads: [{ file: SETTINGS_PATH, content: args.settings }],
        ports: daemonPorts(args.mode, args.publicAddresses, args.metrics),
        mounts: daemonMounts(args.mode, args.paths),
        // A file each for up to maxConnections sessions (1000 by default), plus the mbox files,
        // the spool and LDAP: Docker's usual 1024 would leave a full daemon almost none.
        ulimits: [{ name: "nofile", soft: DAEMON_OPEN_FILES, hard: DAEMON_OPEN_FILES }],
        networksAdvanced: args.networks.map((network) => {
          const aliases = [`semail-${args.mode}`];
          return typeof network === "object" && "ipv4Address" in network
            ? { ...network, aliases }
            : { name: network, aliases };
        }),
      },
      { parent: this, provider: args.docker, deleteBeforeReplace: true },
    );
    this.registerOutputs({ containerName: this.container.name });
  }
}
