// The LVM volume group on the VM's data disk, for the mailboxes' logical volumes.
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellQuote } from "../lib/shell.ts";

export interface VolumeGroupArgs {
  /** SSH connection to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** Volume group name. */
  readonly vgName: string;
  /** Block device in the VM, e.g. /dev/xvdb. */
  readonly device: string;
}

/** Idempotent: an existing PV or VG is kept; pvcreate refuses a disk that holds a filesystem. */
export function volumeGroupScript(args: Pick<VolumeGroupArgs, "vgName" | "device">): string {
  const dev = shellQuote(args.device);
  const vg = shellQuote(args.vgName);
  return [
    "set -eu",
    `pvs ${dev} >/dev/null 2>&1 || pvcreate ${dev}`,
    `vgs ${vg} >/dev/null 2>&1 || vgcreate ${vg} ${dev}`,
  ].join("\n");
}

export class VolumeGroup extends pulumi.ComponentResource {
  readonly vgName: string;
  readonly create: remote.Command;

  constructor(name: string, args: VolumeGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:VolumeGroup", name, {}, opts);
    this.vgName = args.vgName;
    // No delete: the group holds every mailbox. Removing it is a manual vgremove.
    this.create = new remote.Command(
      `${name}-create`,
      {
        connection: args.vm,
        create: volumeGroupScript(args),
      },
      { parent: this, protect: true },
    );
    this.registerOutputs({ vgName: this.vgName });
  }
}
