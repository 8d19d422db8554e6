// Copies the host scripts (assets/host/*.sh) to the VM, where remote commands run them.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellLine } from "../lib/shell.ts";
import { HOST_SCRIPTS, HOST_SCRIPTS_DIR, VM_PACKAGES } from "../config/stack/host-script-paths.ts";
import { jumpSetupCommand, jumpSshdStanza } from "../config/stack/jump-host.ts";

export interface HostScriptsArgs {
  /** SSH connection to the VM. */
  readonly vm: types.input.remote.ConnectionArgs;
  /** The project directory (holding assets/host/). */
  readonly projectDir: string;
  /** Directories the daemons bind-mount, made (mode 0750) if missing. */
  readonly directories: readonly string[];
}

function scriptDigest(projectDir: string, script: string): string {
  return createHash("sha256")
    .update(readFileSync(join(projectDir, "assets", "host", script)))
    .digest("hex");
}

export class HostScripts extends pulumi.ComponentResource {
  readonly copies: remote.CopyToRemote[];
  /** Resources a command that runs a script, or anything else that connects over SSH, must wait for. */
  readonly ready: pulumi.Resource[];
  /** The jump account and its sshd stanza (per-owner key files need it first). */
  readonly jump: remote.Command;

  constructor(name: string, args: HostScriptsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("semail:infra:HostScripts", name, {}, opts);
    // What the scripts and containers need on a fresh Debian guest; apt-get is idempotent.
    const packages = new remote.Command(
      `${name}-packages`,
      {
        connection: args.vm,
        create: `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${VM_PACKAGES.join(" ")}`,
      },
      { parent: this },
    );
    const dirs = new remote.Command(
      `${name}-dirs`,
      {
        connection: args.vm,
        create: [
          `install -d -m 0755 ${HOST_SCRIPTS_DIR}`,
          ...args.directories.map((d) => shellLine("install", "-d", "-m", "0750", d)),
        ].join(" && "),
      },
      { parent: this, dependsOn: [packages] },
    );
    this.copies = HOST_SCRIPTS.map((script) => {
      const local = join(args.projectDir, "assets", "host", script);
      const digest = scriptDigest(args.projectDir, script);
      // The hash as trigger: a changed script is copied again. No delete runs on replace.
      return new remote.CopyToRemote(
        `${name}-${script.replace(/\.sh$/, "")}`,
        {
          connection: args.vm,
          source: new pulumi.asset.FileAsset(local),
          remotePath: `${HOST_SCRIPTS_DIR}/${script}`,
          triggers: [digest],
        },
        { parent: this, dependsOn: [dirs] },
      );
    });
    // Runs again when the stanza changes (stdin) or a jump script changes (trigger). No
    // delete: a replacement must not remove the account it just set up.
    const jumpDigests = HOST_SCRIPTS.filter((s) => s.startsWith("jump-")).map((script) =>
      scriptDigest(args.projectDir, script),
    );
    this.jump = new remote.Command(
      `${name}-jump`,
      {
        connection: args.vm,
        create: jumpSetupCommand(),
        stdin: jumpSshdStanza(),
        triggers: jumpDigests,
      },
      { parent: this, dependsOn: this.copies },
    );
    // The jump setup reloads sshd, which drops its listener for a moment: whatever connects over
    // SSH after the scripts (the Docker provider first) waits for it, or is refused.
    this.ready = [packages, dirs, ...this.copies, this.jump];
    this.registerOutputs({});
  }
}
