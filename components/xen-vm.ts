// The Xen guest that runs SEMail, made on dom0 with xen-tools.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellLine, shellQuote } from "../lib/shell.ts";

export interface XenVmArgs {
  /** SSH connection to dom0. */
  readonly dom0: types.input.remote.ConnectionArgs;
  /** Guest name (xen-create-image --hostname). */
  readonly name: string;
  /** Guest IPv4 address, gateway and netmask. */
  readonly ip: string;
  readonly gateway: string;
  readonly netmask: string;
  /** dom0 bridge of the guest's interface. */
  readonly bridge: string;
  readonly vcpus: number;
  /** Memory and root disk size in xen-tools notation ("2G"). */
  readonly memory: string;
  readonly diskSize: string;
  /** Debian release to install. */
  readonly distribution: string;
  /** dom0 block device given to the guest as xvdb (the volume group's disk). */
  readonly dataDisk: string;
}

/** The shell text that creates and boots the guest; idempotent (an existing guest is left alone). */
export function xenCreateScript(args: XenVmArgs): string {
  const cfg = `/etc/xen/${args.name}.cfg`;
  const create = shellLine(
    "xen-create-image",
    `--hostname=${args.name}`,
    `--ip=${args.ip}`,
    `--gateway=${args.gateway}`,
    `--netmask=${args.netmask}`,
    `--bridge=${args.bridge}`,
    `--vcpus=${args.vcpus}`,
    `--memory=${args.memory}`,
    `--size=${args.diskSize}`,
    `--dist=${args.distribution}`,
    "--genpass=0",
  );
  const disk = `'phy:${args.dataDisk},xvdb,w',`;
  return [
    "set -eu",
    `if ! xl list ${shellQuote(args.name)} >/dev/null 2>&1; then`,
    `  if [ ! -f ${cfg} ]; then`,
    `    ${create}`,
    `    grep -qF ',xvdb,' ${cfg} || sed -i ${shellQuote(`s|^disk *= *\\[|disk = [ ${disk}|`)} ${cfg}`,
    "  fi",
    `  xl create ${cfg}`,
    "fi",
  ].join("\n");
}

/** Waits (bounded) until the guest's SSH port answers, from dom0. */
export function waitForSshScript(ip: string): string {
  return [
    "for i in $(seq 1 60); do",
    `  if timeout 2 bash -c ${shellQuote(`</dev/tcp/${ip}/22`)} 2>/dev/null; then exit 0; fi`,
    "  sleep 5",
    "done",
    `echo "the VM at ${ip} did not open SSH within 5 minutes; check 'xl console' on dom0" >&2`,
    "exit 1",
  ].join("\n");
}

export class XenVm extends pulumi.ComponentResource {
  /** The guest's address, once it answers SSH. */
  readonly address: pulumi.Output<string>;
  readonly create: remote.Command;

  constructor(name: string, args: XenVmArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:XenVm", name, {}, opts);
    // Protected and without triggers: a changed parameter cannot silently rebuild the VM
    // (and the mail on it); it fails the update until the operator acts.
    this.create = new remote.Command(
      `${name}-create`,
      {
        connection: args.dom0,
        create: xenCreateScript(args),
        delete: `xl destroy ${shellQuote(args.name)} 2>/dev/null || true; xen-delete-image ${shellQuote(args.name)}`,
      },
      { parent: this, protect: true },
    );
    const ready = new remote.Command(
      `${name}-ready`,
      {
        connection: args.dom0,
        create: waitForSshScript(args.ip),
      },
      { parent: this, dependsOn: [this.create] },
    );
    this.address = ready.stdout.apply(() => args.ip);
    this.registerOutputs({ address: this.address });
  }
}
