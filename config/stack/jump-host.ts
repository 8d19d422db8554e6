// The SSH jump account on the VM: its sshd stanza, its setup command and the per-owner
// key files that let each key reach one container's port 22 only.
import { createHash } from "node:crypto";
import { shellLine } from "../../lib/shell.ts";
import { hostScript } from "./host-script-paths.ts";

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
  return shellLine(
    ...hostScript("jump-host.sh").split(" "),
    "setup",
    "--user",
    jump.user,
    "--keys-user",
    jump.keysUser,
    "--dir",
    jump.dir,
    "--command",
    jump.command,
    "--sshd-conf",
    jump.sshdConf,
  );
}

const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * The owner's file for the jump account: one line per key, each allowed only to open a
 * tunnel to port 22 of this container (sshd checks permitopen on every channel).
 */
export function jumpKeysFile(containerIp: string, sshKeys: readonly string[]): string {
  if (!IPV4.test(containerIp))
    throw new Error(
      `the user's container has no IPv4 address on the users' network (got ${JSON.stringify(containerIp)}); is it running?`,
    );
  return sshKeys
    .map((key) => {
      // The users list already checks keys; a newline or quote here would add options.
      if (/[\r\n"]/.test(key) || !/^(ssh|ecdsa|sk)-\S+ [A-Za-z0-9+/=]+/.test(key))
        throw new Error(`not an OpenSSH public key line: ${JSON.stringify(key.slice(0, 40))}`);
      return `restrict,port-forwarding,permitopen="${containerIp}:22" ${key}\n`;
    })
    .join("");
}

/** Writes `<JUMP.dir>/<owner>.keys` atomically from stdin. */
export function jumpWriteCommand(owner: string): string {
  return shellLine(
    ...hostScript("jump-access.sh").split(" "),
    "write",
    "--owner",
    owner,
    "--dir",
    JUMP.dir,
    "--group",
    JUMP.keysUser,
  );
}

/** Removes the owner's file only while it still holds `content` (what this resource wrote). */
export function jumpRemoveCommand(owner: string, content: string): string {
  const sha = createHash("sha256").update(content).digest("hex");
  return shellLine(
    ...hostScript("jump-access.sh").split(" "),
    "remove",
    "--owner",
    owner,
    "--dir",
    JUMP.dir,
    "--sha256",
    sha,
  );
}

/** What the user types to reach their container. */
export function userSshCommand(owner: string, jumpHost: string, containerIp: string): string {
  return `ssh -J ${JUMP.user}@${jumpHost} ${owner}@${containerIp}`;
}
