// The certificate from ACME on the VM (services/acme, `semail cert`): which names it carries,
// the account key (a stack secret, written root-only to the VM), the settings `semail cert`
// reads there, and a systemd timer that runs it twice a day in the daemons image, then hands a
// new certificate to the daemons (SIGHUP: new sessions get it, open ones go on), Dovecot
// (`doveadm reload`) and the webmail's nginx (SIGHUP to the container, which its entrypoint
// passes on to nginx and php-fpm: `nginx -s reload` there looks for Debian's pid file, not the
// image's, and reloads nothing).
//
// `semail cert` writes its certificate and key by rename into `<configDir>/live/`; the
// containers bind-mount tlsCert and tlsKey as single files, which keep showing the old inode
// after a rename, so the timer copies a new pair over them in place, then reloads.
//
// HTTP-01 is answered from `stateDir`, which the webmail's nginx serves on port 80. DNS-01 goes
// through the zone on the VM's named, the way the Pulumi program installs it: the daemons image
// carries install-zone.sh with named-checkzone and rndc, and the container gets the zone's folder,
// the host's rndc key (read-only) and the host's network, where named's control channel listens
// on 127.0.0.1 only. (RFC 2136 updates were the other way: they would make the zone dynamic, with
// a journal that every install of the zone by the program would have to freeze and thaw around.)
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";
import { stringify } from "yaml";
import type { HostCertificate } from "../config/sections/acme.ts";
import { HOST_SCRIPTS_DIR } from "../config/stack/host-script-paths.ts";
import { shellLine, shellQuote } from "../lib/shell.ts";
import { stdinFileCommand, timerCommand, timerUnit } from "./systemd-units.ts";

/** Where the daemons image keeps the zone installer (assets/host/install-zone.sh), at the VM's own path. */
export const IMAGE_INSTALL_ZONE = `${HOST_SCRIPTS_DIR}/install-zone.sh`;
/** The name of the key Debian's bind9 makes in /etc/bind/rndc.key (rndc-confgen -a). */
export const RNDC_KEY_NAME = "rndc-key";

/** DNS-01: the VM's named, which serves the managed zone. */
export interface AcmeZone {
  /** The folder of the installed zone file, db.<managedDomain> (components/dns-zone.ts ZONE_DIR). */
  readonly dir: string;
  /** The key of named's control channel (Debian: /etc/bind/rndc.key, key "rndc-key"). */
  readonly rndcKey: string;
  /** named's control channel on 127.0.0.1 (953 unless a test's named listens elsewhere). */
  readonly rndcPort?: number;
}

export interface AcmeCertificateArgs {
  /** SSH to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The daemons image (it carries `semail`). */
  readonly image: pulumi.Input<string>;
  /** The names the certificate carries (every one a SAN). */
  readonly names: readonly string[];
  /**
   * The MTA-STS policy hosts' certificates of their own (config/stack/acme-stack-settings.ts
   * policyHostCertificates), written beside the state; the webmail's nginx serves them by SNI.
   */
  readonly hosts?: readonly HostCertificate[];
  /** The CA's ACME directory. */
  readonly directoryUrl: string;
  /** Contact address given to the CA; "" for none. */
  readonly email: string;
  /** How the CA checks the names. */
  readonly challenge: "http-01" | "dns-01";
  /** DNS-01 only: the named whose zone gets the challenge records. */
  readonly zone?: AcmeZone;
  /** The ACME account's private key (PEM): a stack secret. */
  readonly accountKey: pulumi.Input<string>;
  /** Where the account key and the settings live on the VM (root only). */
  readonly configDir: string;
  /** Where the certificate chain and its key are written on the VM (the daemons, Dovecot and nginx read them). */
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** The manager's status and the HTTP-01 files on the VM (the webmail's nginx serves it on port 80). */
  readonly stateDir: string;
  /** The managed domain (its zone holds the DNS-01 records). */
  readonly managedDomain: string;
  /** The containers told about a new certificate: SIGHUP for the daemons, a reload for Dovecot and nginx. */
  readonly reload: { readonly hangup: readonly string[]; readonly dovecot?: string; readonly nginx?: string };
}

/** What is wrong with the ACME settings, as `pulumi config` keys; empty when they are usable. */
export function validateAcme(
  args: Pick<AcmeCertificateArgs, "names" | "challenge" | "directoryUrl" | "zone" | "managedDomain">,
): string[] {
  const problems: string[] = [];
  if (args.names.length === 0) problems.push("acmeNames: give at least one name (pulumi config set acmeNames ...)");
  for (const name of args.names) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(name))
      problems.push(`acmeNames: ${JSON.stringify(name)} is not a domain name`);
    if (name.startsWith("*.") && args.challenge !== "dns-01")
      problems.push(`acmeNames: the wildcard ${name} needs acmeChallenge dns-01`);
    const base = name.replace(/^\*\./, "");
    if (args.challenge === "dns-01" && base !== args.managedDomain && !base.endsWith(`.${args.managedDomain}`))
      problems.push(
        `acmeNames: ${name} is not in the zone ${args.managedDomain}, where DNS-01 publishes its challenge`,
      );
  }
  if (args.challenge === "dns-01" && args.zone === undefined)
    problems.push("acmeChallenge: dns-01 needs the zone on the VM's named (semail:dnsProvider bind); use http-01");
  if (!/^https:\/\/[^\s/]+\//.test(args.directoryUrl))
    problems.push(`acmeDirectoryUrl: ${JSON.stringify(args.directoryUrl)} is not an https:// URL`);
  return problems;
}

/** rndc's configuration in the container: named's control channel on the host's loopback, the host's key. */
export function acmeRndcConf(zone: AcmeZone): string {
  return [
    "# Written by SEMail (components/acme-certificate.ts): rndc for install-zone.sh in `semail cert`'s container.",
    `include "${zone.rndcKey}";`,
    `options { default-key "${RNDC_KEY_NAME}"; default-server 127.0.0.1; default-port ${zone.rndcPort ?? 953}; };`,
    "",
  ].join("\n");
}

/** The settings file `semail cert` reads on the VM (in the container, at the same paths). */
export function acmeSettingsYaml(args: Omit<AcmeCertificateArgs, "vm" | "image" | "accountKey" | "reload">): string {
  const zone = args.challenge === "dns-01" ? args.zone : undefined;
  return stringify({
    managedDomain: args.managedDomain,
    tls: { cert: `${args.configDir}/live/fullchain.pem`, key: `${args.configDir}/live/privkey.pem` },
    acme: {
      directoryUrl: args.directoryUrl,
      ...(args.email !== "" ? { email: args.email } : {}),
      accountKey: `${args.configDir}/account.key`,
      names: [...args.names],
      challenge: args.challenge,
      stateDir: args.stateDir,
      ...(args.hosts !== undefined && args.hosts.length > 0
        ? { hosts: args.hosts.map((h) => ({ id: h.id, names: [...h.names], challenge: h.challenge })) }
        : {}),
      // DNS-01: the zone as installed, through the image's install-zone.sh, as the program installs it.
      ...(zone
        ? {
            zoneFile: `${zone.dir}/db.${args.managedDomain}`,
            installZone: [IMAGE_INSTALL_ZONE, "--zone-dir", zone.dir, "--rndc-conf", `${args.configDir}/rndc.conf`],
          }
        : {}),
    },
  });
}

/** The systemd service and timer: `semail cert renew` in the daemons image, and the reloads when it issued one. */
export function acmeUnits(
  args: AcmeCertificateArgs,
  image: string,
): { service: string; timer: string; postRenew: string } {
  const zone = args.challenge === "dns-01" ? args.zone : undefined;
  const mounts = [args.configDir, args.stateDir, ...(zone ? [zone.dir] : [])].map((m) => `${m}:${m}`);
  const run = [
    "/usr/bin/docker",
    "run",
    "--rm",
    "--name",
    "semail-cert",
    // DNS-01: rndc reaches named's control channel on the host's 127.0.0.1.
    ...(zone ? ["--network", "host"] : []),
    ...mounts.flatMap((m) => ["-v", m]),
    ...(zone ? ["-v", `${zone.rndcKey}:${zone.rndcKey}:ro`] : []),
    image,
    "cert",
    "renew",
    "--config",
    `${args.configDir}/semail.yaml`,
  ];
  const live = (file: string) => shellQuote(`${args.configDir}/live/${file}`);
  const postRenew = [
    "#!/bin/sh",
    "# Written by SEMail (components/acme-certificate.ts): run after `semail cert renew`; when it issued a",
    "# certificate, copies it over the files the containers mount (in place: same inode, mode kept; a new",
    "# key file is made root-only), then tells the daemons (SIGHUP), Dovecot and nginx.",
    "set -u",
    ...(args.reload.nginx
      ? [
          "# Only the policy hosts' certificates changed: nginx alone (an issuance below reloads it too).",
          `grep -q '"outcome": "issued"' ${shellQuote(`${args.stateDir}/status.json`)} || ! grep -q '"changed": true' ${shellQuote(`${args.stateDir}/hosts/status.json`)} 2>/dev/null || docker kill --signal HUP ${args.reload.nginx}`,
        ]
      : []),
    `grep -q '"outcome": "issued"' ${shellQuote(`${args.stateDir}/status.json`)} || exit 0`,
    `cat ${live("fullchain.pem")} > ${shellQuote(args.tlsCert)} || exit 1`,
    `(umask 077; cat ${live("privkey.pem")} > ${shellQuote(args.tlsKey)}) || exit 1`,
    ...(args.reload.hangup.length > 0 ? [`docker kill --signal HUP ${args.reload.hangup.join(" ")}`] : []),
    ...(args.reload.dovecot ? [`docker exec ${args.reload.dovecot} doveadm reload`] : []),
    ...(args.reload.nginx ? [`docker kill --signal HUP ${args.reload.nginx}`] : []),
    "exit 0",
    "",
  ].join("\n");
  return {
    postRenew,
    service: [
      "# Written by SEMail (components/acme-certificate.ts).",
      "[Unit]",
      "Description=SEMail: renew the TLS certificate from ACME",
      "After=docker.service",
      "Requires=docker.service",
      "",
      "[Service]",
      "Type=oneshot",
      `ExecStart=${shellLine(...run)}`,
      `ExecStartPost=/bin/sh ${args.configDir}/post-renew.sh`,
      "",
    ].join("\n"),
    timer: timerUnit("components/acme-certificate.ts", "SEMail: renew the TLS certificate from ACME twice a day", [
      "OnBootSec=5min",
      "OnUnitActiveSec=12h",
      "RandomizedDelaySec=1h",
    ]),
  };
}

export class AcmeCertificate extends pulumi.ComponentResource {
  /** The names the certificate carries. */
  readonly names: readonly string[];

  constructor(name: string, args: AcmeCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:AcmeCertificate", name, {}, opts);
    const problems = validateAcme(args);
    if (problems.length > 0) throw new Error(`invalid ACME settings:\n  ${problems.join("\n  ")}`);
    this.names = args.names;
    // The key by rename, root only; the secret travels on stdin, never on a command line.
    const key = stdinFileCommand(
      `${name}-account-key`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "account.key",
        label: "install-acme-key",
        rootOnly: true,
        stdin: pulumi.secret(args.accountKey),
      },
      this,
    );
    const settings = stdinFileCommand(
      `${name}-settings`,
      {
        vm: args.vm,
        dir: args.configDir,
        file: "semail.yaml",
        label: "install-acme-settings",
        alsoDir: { path: args.stateDir, mode: "0755" },
        rootOnly: false,
        stdin: acmeSettingsYaml(args),
      },
      this,
    );
    const units = pulumi.output(args.image).apply((image) => acmeUnits(args, image));
    // The settings' hash in the script: new names (a new mailbox's policy host) re-run it, an
    // update that starts an order now rather than at the timer's next turn.
    const digest = createHash("sha256").update(acmeSettingsYaml(args)).digest("hex");
    timerCommand(
      `${name}-timer`,
      {
        vm: args.vm,
        unit: "semail-cert",
        units,
        head: [`# settings sha256 ${digest}`],
        moreFiles: units.apply((u) => [
          [`${args.configDir}/post-renew.sh`, u.postRenew] as const,
          ...(args.challenge === "dns-01" && args.zone
            ? [[`${args.configDir}/rndc.conf`, acmeRndcConf(args.zone)] as const]
            : []),
        ]),
        // The first certificate now, not at the timer's first turn.
        moreStart: ["systemctl start --no-block semail-cert.service"],
      },
      { parent: this, dependsOn: [key, settings] },
    );
    this.registerOutputs({ names: this.names });
  }
}
