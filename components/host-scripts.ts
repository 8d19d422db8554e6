// Copies the host scripts (provisioning/host/*.sh) to the VM, where remote commands run them.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellLine } from "./shell.ts";

/** Where the scripts live on the VM. */
export const HOST_SCRIPTS_DIR = "/usr/local/lib/semail";
export const HOST_SCRIPTS = ["mailbox-fs.sh", "install-zone.sh"] as const;
/** Debian packages the VM needs: Docker, named, LVM, ext4 tools, blkid/file/losetup. */
export const VM_PACKAGES = ["docker.io", "bind9", "bind9-utils", "lvm2", "e2fsprogs", "file", "util-linux", "ca-certificates"] as const;

export interface HostScriptsArgs {
  /** SSH connection to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The project directory (holding provisioning/host/). */
  readonly projectDir: string;
  /** Directories the daemons bind-mount, made (mode 0750) if missing. */
  readonly directories: readonly string[];
}

/** `bash <dir>/<script>` as a command prefix. */
export function hostScript(script: (typeof HOST_SCRIPTS)[number]): string {
  return `bash ${HOST_SCRIPTS_DIR}/${script}`;
}

export class HostScripts extends pulumi.ComponentResource {
  readonly copies: remote.CopyToRemote[];
  /** Resources a command that runs a script must wait for. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: HostScriptsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:HostScripts", name, {}, opts);
    // What the scripts and containers need on a fresh Debian guest; apt-get is idempotent.
    const packages = new remote.Command(`${name}-packages`, {
      connection: args.vm,
      create: `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${VM_PACKAGES.join(" ")}`,
    }, { parent: this });
    const dirs = new remote.Command(`${name}-dirs`, {
      connection: args.vm,
      create: [`install -d -m 0755 ${HOST_SCRIPTS_DIR}`, ...args.directories.map((d) => shellLine("install", "-d", "-m", "0750", d))].join(" && "),
    }, { parent: this, dependsOn: [packages] });
    this.copies = HOST_SCRIPTS.map((script) => {
      const local = join(args.projectDir, "provisioning", "host", script);
      const digest = createHash("sha256").update(readFileSync(local)).digest("hex");
      // The hash as trigger: a changed script is copied again. No delete runs on replace.
      return new remote.CopyToRemote(`${name}-${script.replace(/\.sh$/, "")}`, {
        connection: args.vm,
        source: new pulumi.asset.FileAsset(local),
        remotePath: `${HOST_SCRIPTS_DIR}/${script}`,
        triggers: [digest],
      }, { parent: this, dependsOn: [dirs] });
    });
    this.ready = [packages, dirs, ...this.copies];
    this.registerOutputs({});
  }
}
