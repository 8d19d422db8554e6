// Dovecot on the VM (assets/images/imap): IMAP with STARTTLS, IMAPS and POP3S on the
// public addresses, straight from the users' mbox files, with logins bound to the directory
// and only the live mailboxes of the users list let in (the users file written here).
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { shellLine } from "../lib/shell.ts";

export interface ImapServerArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  readonly image: pulumi.Input<string>;
  /** SSH to the VM, where the users file is written. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** Dovecot's passwd-file (config/imap-users.ts), rendered from the users list. */
  readonly usersFile: string;
  /** The directory's URL and base DN: a login binds as uid=<login>,ou=people,<base>. */
  readonly ldapUrl: string;
  readonly ldapBaseDn: string;
  readonly mailRoot: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** Where the users file lives on the VM (mounted whole: it is replaced by rename). */
  readonly usersDir: string;
  /** Dovecot's index and control files on the VM. */
  readonly stateDir: string;
  /** Networks that may log in without TLS besides loopback (the users' network). */
  readonly trustedNetworks: readonly string[];
  readonly publicAddresses: readonly string[];
  /** Docker networks to join (the directory's). */
  readonly networks: readonly pulumi.Input<string>[];
}

export const IMAP_PORTS = [143, 993, 995] as const;

export class ImapServer extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: ImapServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:ImapServer", name, {}, opts);
    // Written by rename, so Dovecot never reads half a file; it re-reads it on change.
    const users = new remote.Command(
      `${name}-users`,
      {
        connection: args.vm,
        create: shellLine(
          "sh",
          "-c",
          `mkdir -p "$1" && cat > "$1/users.new" && chmod 0644 "$1/users.new" && mv -f "$1/users.new" "$1/users"`,
          "install-imap-users",
          args.usersDir,
        ),
        stdin: args.usersFile,
      },
      { parent: this },
    );
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: "semail-imap",
        image: args.image,
        restart: "unless-stopped",
        envs: [
          `IMAP_LDAP_URL=${args.ldapUrl}`,
          `IMAP_LDAP_BASE_DN=${args.ldapBaseDn}`,
          `IMAP_MAIL_ROOT=${args.mailRoot}`,
          `IMAP_TRUSTED_NETWORKS=${args.trustedNetworks.join(" ")}`,
        ],
        mounts: [
          // rslave: a mailbox filesystem mounted on the VM later shows up here too.
          { type: "bind", source: args.mailRoot, target: args.mailRoot, bindOptions: { propagation: "rslave" } },
          { type: "bind", source: args.usersDir, target: "/etc/semail/imap", readOnly: true },
          { type: "bind", source: args.tlsCert, target: "/etc/semail/tls/cert.pem", readOnly: true },
          { type: "bind", source: args.tlsKey, target: "/etc/semail/tls/key.pem", readOnly: true },
        ],
        volumes: [{ hostPath: args.stateDir, containerPath: "/var/lib/semail/imap" }],
        ports: args.publicAddresses.flatMap((ip) => IMAP_PORTS.map((port) => ({ internal: port, external: port, ip }))),
        networksAdvanced: args.networks.map((network) => ({ name: network, aliases: ["semail-imap"] })),
      },
      { parent: this, provider: args.docker, dependsOn: [users], deleteBeforeReplace: true },
    );
    this.registerOutputs({ containerName: this.container.name });
  }
}
