// Roundcube on the VM (assets/images/webmail): HTTPS on the public addresses with the
// deployment's certificate, port 80 redirecting there (but for certbot's challenges and
// Mozilla's autoconfig); users log in to Dovecot by IMAPS and send through the outbound
// daemon's submission with their own login, as their mailbox address (the address file
// written here, one identity each). Its nginx also answers mail programs' autoconfig, from
// the documents written here, one per live mail domain.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { AUTOCONFIG_FOLDER } from "../config/autoconfig.ts";
import { MTA_STS_FOLDER } from "../config/stack/transport-security.ts";
import { shellLine, shellQuote } from "../lib/shell.ts";

export interface WebmailServerArgs {
  /** Docker on the VM. */
  readonly docker: docker.Provider;
  readonly image: pulumi.Input<string>;
  /** SSH to the VM, where the address file is written. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The address file (config/webmail-addresses.ts), rendered from the users list. */
  readonly addressFile: string;
  /** Mozilla autoconfig's documents, file name -> text (config/autoconfig.ts autoconfigFiles), served on both ports. */
  readonly autoconfigFiles: Readonly<Record<string, string>>;
  /** MTA-STS policies, file name -> text (config/stack/transport-security.ts mtaStsFiles), served on HTTPS for mta-sts.<domain>. */
  readonly mtaStsFiles?: Readonly<Record<string, string>>;
  /** Dovecot's IMAPS as HOST:PORT on the daemons' network. */
  readonly imap: string;
  /** The outbound daemon's submission (STARTTLS) as HOST:PORT on the daemons' network. */
  readonly submission: string;
  /** The name the certificate carries, checked on Dovecot's and the submission's (they serve the same one) and the webmail's own host. */
  readonly hostName: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** Where the address file and the autoconfig folder live on the VM (mounted whole: files are replaced by rename). */
  readonly addressDir: string;
  /** The webmail's des_key and SQLite database on the VM. */
  readonly stateDir: string;
  /** Where certbot --webroot writes its challenges on the VM (served on the HTTP port). */
  readonly acmeDir: string;
  readonly publicAddresses: readonly string[];
  /** Public HTTPS port. */
  readonly httpsPort: number;
  /** Public HTTP port (autoconfig, challenges, and a redirect for the rest); 0 publishes none. */
  readonly httpPort: number;
  /** Docker networks to join (Dovecot's and the outbound daemon's). */
  readonly networks: readonly pulumi.Input<string>[];
}

/** What the image listens on. */
export const WEBMAIL_PORTS = { https: 443, http: 80 } as const;
/** PHP workers at most: the VM is small (about 10 MiB each while they live; none when idle). */
export const WEBMAIL_WORKERS = 2;

/** The webmail's address, as users are sent to it (the port only when it is not 443). */
export function webmailUrl(hostName: string, httpsPort: number): string {
  return `https://${hostName}${httpsPort === WEBMAIL_PORTS.https ? "" : `:${httpsPort}`}/`;
}

/** Published ports: HTTPS, and HTTP when asked, on each public address. */
export function webmailPorts(
  publicAddresses: readonly string[],
  httpsPort: number,
  httpPort: number,
): docker.types.input.ContainerPort[] {
  return publicAddresses.flatMap((ip) => [
    { internal: WEBMAIL_PORTS.https, external: httpsPort, ip },
    ...(httpPort !== 0 ? [{ internal: WEBMAIL_PORTS.http, external: httpPort, ip }] : []),
  ]);
}

/**
 * A script for `sh -s DIR` that makes DIR hold exactly these files: each written by rename
 * (nginx never serves half a document), then the files of domains no longer served removed.
 * The documents travel inside the script, quoted: they are too many for a command line.
 */
export function autoconfigInstallScript(files: Readonly<Record<string, string>>): string {
  return documentsInstallScript(files, "xml", "Mozilla autoconfig");
}

/** The same for the MTA-STS policies (`<domain>.txt`). */
export function mtaStsInstallScript(files: Readonly<Record<string, string>>): string {
  return documentsInstallScript(files, "txt", "MTA-STS policies");
}

function documentsInstallScript(files: Readonly<Record<string, string>>, extension: "xml" | "txt", what: string) {
  // What a file may be called (config/autoconfig.ts autoconfigFileName, transport-security.ts mtaStsFileName):
  // nothing to quote, nothing outside the folder.
  const allowed = new RegExp(`^[a-z0-9][a-z0-9.-]*\\.${extension}$`);
  const names = Object.keys(files).sort();
  for (const name of names)
    if (!allowed.test(name) || name.includes(".."))
      throw new Error(`${what}: file name ${JSON.stringify(name)}: expected <domain>.${extension}`);
  return [
    `# Written by SEMail (components/webmail-server.ts): ${what}, one document per live mail domain.`,
    "set -eu",
    "dir=$1",
    'install -d -m 0755 "$dir"',
    `put() { printf '%s' "$2" > "$dir/$1.new" && chmod 0644 "$dir/$1.new" && mv -f "$dir/$1.new" "$dir/$1"; }`,
    ...names.map((name) => `put ${name} ${shellQuote(files[name]!)}`),
    "# The domains no longer served lose their document.",
    `keep=' ${names.join(" ")} '`,
    `for f in "$dir"/*.${extension}; do`,
    '  case $keep in *" ${f##*/} "*) ;; *) rm -f "$f" ;; esac',
    "done",
    "",
  ].join("\n");
}

export class WebmailServer extends pulumi.ComponentResource {
  readonly container: docker.Container;
  readonly url: string;

  constructor(name: string, args: WebmailServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:WebmailServer", name, {}, opts);
    this.url = webmailUrl(args.hostName, args.httpsPort);
    // The address file by rename, so Roundcube never reads half of it; the challenges'
    // directory readable by nginx's www-data.
    const files = new remote.Command(
      `${name}-addresses`,
      {
        connection: args.vm,
        create: shellLine(
          "sh",
          "-c",
          `install -d -m 0755 "$2" && mkdir -p "$1" && cat > "$1/addresses.new" && chmod 0644 "$1/addresses.new" && mv -f "$1/addresses.new" "$1/addresses"`,
          "install-webmail-addresses",
          args.addressDir,
          args.acmeDir,
        ),
        stdin: args.addressFile,
      },
      { parent: this },
    );
    // Read by nginx at each request: no reload, and rewritten whenever the documents change.
    new remote.Command(
      `${name}-autoconfig`,
      {
        connection: args.vm,
        create: shellLine("sh", "-s", `${args.addressDir}/${AUTOCONFIG_FOLDER}`),
        stdin: autoconfigInstallScript(args.autoconfigFiles),
      },
      { parent: this },
    );
    if (args.mtaStsFiles !== undefined)
      new remote.Command(
        `${name}-mta-sts`,
        {
          connection: args.vm,
          create: shellLine("sh", "-s", `${args.addressDir}/${MTA_STS_FOLDER}`),
          stdin: mtaStsInstallScript(args.mtaStsFiles),
        },
        { parent: this },
      );
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: "semail-webmail",
        image: args.image,
        restart: "unless-stopped",
        envs: [
          `WEBMAIL_IMAP=${args.imap}`,
          `WEBMAIL_SMTP=${args.submission}`,
          `WEBMAIL_IMAP_TLS_NAME=${args.hostName}`,
          `WEBMAIL_SMTP_TLS_NAME=${args.hostName}`,
          `WEBMAIL_WORKERS=${WEBMAIL_WORKERS}`,
        ],
        mounts: [
          { type: "bind", source: args.addressDir, target: "/etc/semail/webmail", readOnly: true },
          { type: "bind", source: args.tlsCert, target: "/etc/semail/tls/cert.pem", readOnly: true },
          { type: "bind", source: args.tlsKey, target: "/etc/semail/tls/key.pem", readOnly: true },
          { type: "bind", source: args.acmeDir, target: "/var/lib/semail/acme", readOnly: true },
        ],
        volumes: [{ hostPath: args.stateDir, containerPath: "/var/lib/semail/webmail" }],
        ports: webmailPorts(args.publicAddresses, args.httpsPort, args.httpPort),
        networksAdvanced: args.networks.map((network) => ({ name: network, aliases: ["semail-webmail"] })),
      },
      { parent: this, provider: args.docker, dependsOn: [files], deleteBeforeReplace: true },
    );
    // Roundcube copies a user's address only at the first login: when the file changes, the
    // identities follow (the image does the same at each start).
    new remote.Command(
      `${name}-identities`,
      {
        connection: args.vm,
        create: shellLine("docker", "exec", "semail-webmail", "/usr/local/sbin/semail-webmail-identities"),
        triggers: [args.addressFile],
      },
      { parent: this, dependsOn: [this.container, files] },
    );
    this.registerOutputs({ containerName: this.container.name, url: this.url });
  }
}
