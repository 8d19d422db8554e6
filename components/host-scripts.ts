// Copies the host scripts (provisioning/host/*.sh) to the VM, where remote commands run them.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { remote, type types } from "@pulumi/command";
import { shellLine } from "../lib/shell.ts";

/** Where the scripts live on the VM. */
export const HOST_SCRIPTS_DIR = "/usr/local/lib/semail";
export const HOST_SCRIPTS = ["mailbox-fs.sh", "install-zone.sh", "jump-host.sh", "jump-access.sh", "jump-keys.sh", "users-firewall.sh"] as const;
/** Debian packages the VM needs: Docker, named, LVM, ext4 tools, blkid/file/losetup, setfacl. */
export const VM_PACKAGES = ["docker.io", "bind9", "bind9-utils", "lvm2", "e2fsprogs", "file", "util-linux", "acl", "ca-certificates"] as const;

/** The SSH jump account on the VM: users tunnel through it to their own container only. */
export const JUMP = {
  /** The account users give to `ssh -J`; no shell, keys only from `command`. */
  user: "semail-jump",
  /** The account sshd runs `command` as (never root, never the jump account). */
  keysUser: "semail-jumpkeys",
  /** One `<owner>.keys` file per mailbox (jump-access.sh). */
  dir: "/etc/semail/jump",
  /** sshd's AuthorizedKeysCommand: jump-keys.sh, installed root-owned by jump-host.sh. */
  command: "/usr/local/sbin/semail-jump-keys",
  /** The sshd drop-in (Debian's sshd_config includes sshd_config.d/*.conf first). */
  sshdConf: "/etc/ssh/sshd_config.d/semail-jump.conf",
} as const;

/**
 * The sshd stanza for the jump account: keys only from the per-owner files, local
 * forwarding only (each key's permitopen narrows it to one container's port 22), no
 * shell, pty, agent, X11, socket or remote forwarding. `Match all` ends the block, so
 * it never leaks into the lines of sshd_config after the Include.
 */
export function jumpSshdStanza(jump: typeof JUMP = JUMP): string {
  return [
    "# SEMail jump account, installed by jump-host.sh (Pulumi): do not edit.",
    `Match User ${jump.user}`,
    "\tAuthorizedKeysFile none",
    `\tAuthorizedKeysCommand ${jump.command} %u`,
    `\tAuthorizedKeysCommandUser ${jump.keysUser}`,
    "\tAuthenticationMethods publickey",
    "\tPasswordAuthentication no",
    "\tKbdInteractiveAuthentication no",
    "\tAllowTcpForwarding local",
    "\tPermitOpen any",
    "\tPermitListen none",
    "\tAllowAgentForwarding no",
    "\tAllowStreamLocalForwarding no",
    "\tX11Forwarding no",
    "\tPermitTTY no",
    "\tPermitTunnel no",
    "\tPermitUserRC no",
    "\tForceCommand /usr/sbin/nologin",
    "Match all",
    "",
  ].join("\n");
}

/** The command that sets up the jump account (stdin: `jumpSshdStanza()`). */
export function jumpSetupCommand(jump: typeof JUMP = JUMP): string {
  return shellLine(...hostScript("jump-host.sh").split(" "), "setup", "--user", jump.user, "--keys-user", jump.keysUser,
    "--dir", jump.dir, "--command", jump.command, "--sshd-conf", jump.sshdConf);
}

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

function scriptDigest(projectDir: string, script: string): string {
  return createHash("sha256").update(readFileSync(join(projectDir, "provisioning", "host", script))).digest("hex");
}

export class HostScripts extends pulumi.ComponentResource {
  readonly copies: remote.CopyToRemote[];
  /** Resources a command that runs a script must wait for. */
  readonly ready: pulumi.Resource[];
  /** The jump account and its sshd stanza (per-owner key files need it first). */
  readonly jump: remote.Command;

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
      const digest = scriptDigest(args.projectDir, script);
      // The hash as trigger: a changed script is copied again. No delete runs on replace.
      return new remote.CopyToRemote(`${name}-${script.replace(/\.sh$/, "")}`, {
        connection: args.vm,
        source: new pulumi.asset.FileAsset(local),
        remotePath: `${HOST_SCRIPTS_DIR}/${script}`,
        triggers: [digest],
      }, { parent: this, dependsOn: [dirs] });
    });
    // Runs again when the stanza changes (stdin) or a jump script changes (trigger). No
    // delete: a replacement must not remove the account it just set up.
    const jumpDigests = HOST_SCRIPTS.filter((s) => s.startsWith("jump-")).map((script) => scriptDigest(args.projectDir, script));
    this.jump = new remote.Command(`${name}-jump`, {
      connection: args.vm,
      create: jumpSetupCommand(),
      stdin: jumpSshdStanza(),
      triggers: jumpDigests,
    }, { parent: this, dependsOn: this.copies });
    this.ready = [packages, dirs, ...this.copies];
    this.registerOutputs({});
  }
}
