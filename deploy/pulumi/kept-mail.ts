// What stays of a deleted mailbox on the VM, for the web form's Pulumi applier. Deleting a
// mailbox keeps its filesystem (retainOnDelete); mailbox-fs.sh records the address each was
// made for and sets aside one of another address at the next create. Here the form asks the
// VM what is kept (`mailbox-fs.sh kept`) and records the owner's answer there
// (`mailbox-fs.sh decide`), which the next stack update's create carries out.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConfigMap } from "@pulumi/pulumi/automation/index.js";
import type { KeptMail, KeptMailChoice } from "../../config/applier.ts";
import { parseStackConfig } from "../../config/stack/stack-config.ts";
import { sshExec, type SshTarget } from "../../lib/ssh-exec.ts";
import { shellLine } from "../../lib/shell.ts";
import { storagePlace, type MailboxStorage } from "../../config/stack/mailbox-storage.ts";

/** The VM's mailbox filesystems as the stack's config places them. */
export interface VmMailboxes {
  readonly vm: SshTarget;
  readonly storage: MailboxStorage;
}

/**
 * Reads the VM's SSH target (as components/connections.ts vmSshTarget makes it) and the
 * storage (as components/stack.ts) from the stack's config, secrets shown. `port`: the VM's
 * SSH port, 22 unless given (a test's own sshd).
 */
export function vmMailboxesOf(config: ConfigMap, port?: number): VmMailboxes {
  const settings = parseStackConfig((key) => config[`semail:${key}`]?.value);
  const privateKey = config["semail:sshPrivateKey"]?.value;
  if (!privateKey)
    throw new Error(
      "the stack has no semail:sshPrivateKey: the VM cannot be reached (pulumi config set --secret sshPrivateKey ...)",
    );
  const dom0: SshTarget = {
    host: settings.dom0Host,
    user: settings.dom0User,
    privateKey,
    hostKey: settings.dom0HostKey,
  };
  return {
    vm: {
      host: settings.vmIp,
      port,
      user: settings.vmUser,
      privateKey,
      hostKey: settings.vmHostKey,
      proxy: settings.vmSshViaDom0 ? dom0 : undefined,
    },
    storage:
      settings.storageBackend === "lvm"
        ? { backend: "lvm", vgName: settings.vgName, mailRoot: settings.mailRoot }
        : { backend: "image", imageDir: settings.imageDir, mailRoot: settings.mailRoot },
  };
}

/**
 * Runs the project's mailbox-fs.sh on the VM, sent on stdin (`bash -s`): the same script the
 * next update installs, so what is asked and what the create does agree, even before the
 * first update installed it. Answers its stdout.
 */
async function mailboxFs(projectDir: string, where: VmMailboxes, args: readonly string[]): Promise<string> {
  const script = await readFile(join(projectDir, "assets", "host", "mailbox-fs.sh"), "utf8");
  const command = shellLine("bash", "-s", "--", ...args, ...storagePlace(where.storage));
  try {
    return (await sshExec(where.vm, command, script, 60_000)).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim().split("\n").at(-1);
    throw new Error(`the VM ${where.vm.host} did not answer about the kept mail: ${stderr || (err as Error).message}`);
  }
}

/** `mailbox-fs.sh kept`'s line as the form's KeptMail; undefined when nothing is kept. */
export function keptMailOfLine(line: string): KeptMail | undefined {
  let found: { kept?: boolean; address?: string; bytes?: number };
  try {
    found = JSON.parse(line) as typeof found;
  } catch {
    throw new Error(
      `the VM's mailbox-fs.sh answered ${JSON.stringify(line.slice(0, 80))}, not a line of JSON saying what is kept`,
    );
  }
  if (found.kept !== true) return undefined;
  // Never "in use": the choice is carried out by the next update's create, which unmounts
  // the kept filesystem itself; nothing has to wait for a deletion to finish.
  return {
    ...(found.address !== undefined ? { address: found.address } : {}),
    ...(typeof found.bytes === "number" ? { bytes: found.bytes } : {}),
    inUse: false,
  };
}

/** What is kept of `owner`'s deleted mailbox on the VM. */
export async function keptMailOnVm(
  projectDir: string,
  where: VmMailboxes,
  owner: string,
): Promise<KeptMail | undefined> {
  const out = await mailboxFs(projectDir, where, ["kept", "--owner", owner]);
  return keptMailOfLine(out.trim().split("\n").at(-1) ?? "");
}

/** Records the owner's choice on the VM for the next update: "restore" gives `address` the kept mail, "set-aside" starts empty. */
export async function decideKeptMailOnVm(
  projectDir: string,
  where: VmMailboxes,
  owner: string,
  address: string,
  choice: KeptMailChoice,
): Promise<void> {
  await mailboxFs(projectDir, where, ["decide", "--owner", owner, "--address", address, "--choice", choice]);
}
