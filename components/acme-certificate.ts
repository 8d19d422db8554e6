// The certificate from ACME on the VM (services/acme, `semail cert`): which names it carries,
// the account key (a stack secret, written root-only to the VM), the settings `semail cert`
// reads there, and a systemd timer that runs it twice a day in the daemons image, then hands a
// new certificate to the daemons (SIGHUP: new sessions get it, open ones go on), Dovecot
// (`doveadm reload`) and the webmail's nginx (`nginx -s reload`).
//
// `semail cert` writes its certificate and key by rename into `<configDir>/live/`; the
// containers bind-mount tlsCert and tlsKey as single files, which keep showing the old inode
// after a rename, so the timer copies a new pair over them in place, then reloads.
//
// HTTP-01 is answered from `stateDir`, which the webmail's nginx serves on port 80. DNS-01 needs
// the host's zone installer (named-checkzone, rndc), which the daemons image does not carry:
// `semail cert` then runs on the host itself (validateAcme says so).
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { stringify } from "yaml";
import { shellLine, shellQuote } from "../lib/shell.ts";

export interface AcmeCertificateArgs {
  /** SSH to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The daemons image (it carries `semail`). */
  readonly image: pulumi.Input<string>;
  /** The names the certificate carries (every one a SAN). */
  readonly names: readonly string[];
  /** The CA's ACME directory. */
  readonly directoryUrl: string;
  /** Contact address given to the CA; "" for none. */
  readonly email: string;
  /** How the CA checks the names. */
  readonly challenge: "http-01" | "dns-01";
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
export function validateAcme(args: Pick<AcmeCertificateArgs, "names" | "challenge" | "directoryUrl">): string[] {
  const problems: string[] = [];
  if (args.names.length === 0) problems.push("acmeNames: give at least one name (pulumi config set acmeNames ...)");
  for (const name of args.names) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(name))
      problems.push(`acmeNames: ${JSON.stringify(name)} is not a domain name`);
    if (name.startsWith("*.") && args.challenge !== "dns-01")
      problems.push(`acmeNames: the wildcard ${name} needs acmeChallenge dns-01`);
  }
  if (args.challenge === "dns-01")
    problems.push("acmeChallenge: dns-01 runs `semail cert` on the host, which the VM does not have yet: use http-01");
  if (!/^https:\/\/[^\s/]+\//.test(args.directoryUrl))
    problems.push(`acmeDirectoryUrl: ${JSON.stringify(args.directoryUrl)} is not an https:// URL`);
  return problems;
}

/** The settings file `semail cert` reads on the VM (in the container, at the same paths). */
export function acmeSettingsYaml(args: Omit<AcmeCertificateArgs, "vm" | "image" | "accountKey" | "reload">): string {
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
    },
  });
}

/** The systemd service and timer: `semail cert renew` in the daemons image, and the reloads when it issued one. */
export function acmeUnits(
  args: AcmeCertificateArgs,
  image: string,
): { service: string; timer: string; postRenew: string } {
  const mounts = [args.configDir, args.stateDir];
  const run = [
    "/usr/bin/docker",
    "run",
    "--rm",
    "--name",
    "semail-cert",
    ...mounts.flatMap((m) => ["-v", `${m}:${m}`]),
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
    `grep -q '"outcome": "issued"' ${shellQuote(`${args.stateDir}/status.json`)} || exit 0`,
    `cat ${live("fullchain.pem")} > ${shellQuote(args.tlsCert)} || exit 1`,
    `(umask 077; cat ${live("privkey.pem")} > ${shellQuote(args.tlsKey)}) || exit 1`,
    ...(args.reload.hangup.length > 0 ? [`docker kill --signal HUP ${args.reload.hangup.join(" ")}`] : []),
    ...(args.reload.dovecot ? [`docker exec ${args.reload.dovecot} doveadm reload`] : []),
    ...(args.reload.nginx ? [`docker exec ${args.reload.nginx} nginx -s reload`] : []),
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
    timer: [
      "# Written by SEMail (components/acme-certificate.ts).",
      "[Unit]",
      "Description=SEMail: renew the TLS certificate from ACME twice a day",
      "",
      "[Timer]",
      "OnBootSec=5min",
      "OnUnitActiveSec=12h",
      "RandomizedDelaySec=1h",
      "Persistent=true",
      "",
      "[Install]",
      "WantedBy=timers.target",
      "",
    ].join("\n"),
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
    const key = new remote.Command(
      `${name}-account-key`,
      {
        connection: args.vm,
        create: shellLine(
          "sh",
          "-c",
          'install -d -m 0700 "$1" && umask 077 && cat > "$1/account.key.new" && mv -f "$1/account.key.new" "$1/account.key"',
          "install-acme-key",
          args.configDir,
        ),
        stdin: pulumi.secret(args.accountKey),
      },
      { parent: this },
    );
    const settings = new remote.Command(
      `${name}-settings`,
      {
        connection: args.vm,
        create: shellLine(
          "sh",
          "-c",
          'install -d -m 0700 "$1" && install -d -m 0755 "$2" && cat > "$1/semail.yaml.new" && mv -f "$1/semail.yaml.new" "$1/semail.yaml"',
          "install-acme-settings",
          args.configDir,
          args.stateDir,
        ),
        stdin: acmeSettingsYaml(args),
      },
      { parent: this },
    );
    const units = pulumi.output(args.image).apply((image) => acmeUnits(args, image));
    const script = units.apply((u) =>
      [
        "set -eu",
        `printf '%s' ${shellQuote(u.service)} > /etc/systemd/system/semail-cert.service`,
        `printf '%s' ${shellQuote(u.timer)} > /etc/systemd/system/semail-cert.timer`,
        `printf '%s' ${shellQuote(u.postRenew)} > ${shellQuote(`${args.configDir}/post-renew.sh`)}`,
        "systemctl daemon-reload",
        "systemctl enable --now semail-cert.timer",
        // The first certificate now, not at the timer's first turn.
        "systemctl start --no-block semail-cert.service",
        "",
      ].join("\n"),
    );
    new remote.Command(
      `${name}-timer`,
      {
        connection: args.vm,
        create: "sh -s",
        stdin: script,
        delete:
          "systemctl disable --now semail-cert.timer; rm -f /etc/systemd/system/semail-cert.service /etc/systemd/system/semail-cert.timer; systemctl daemon-reload",
      },
      { parent: this, dependsOn: [key, settings] },
    );
    this.registerOutputs({ names: this.names });
  }
}
