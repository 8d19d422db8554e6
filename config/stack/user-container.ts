// What a user's container is given: its mount points and the environment its image's
// entrypoint reads. Production's Mailbox component and local mode make it the same way.
// The owner's SSH keys are a file in a directory of the host's, mounted read-only: the
// host rewrites the file (a new file renamed over it) and sshd reads it at each login, so
// a key change touches no setting of the container and never replaces it.
import { mailUid } from "../mail-uid.ts";
import { shellLine } from "../../lib/shell.ts";
import type { MailboxEntry } from "../users-list.ts";

/** Where the user's mail filesystem is mounted in their container. */
export const USER_MAIL_PATH = "/mail";
/** The name of the owner's home in their mailbox root, beside INBOX and mail/. */
export const USER_HOME_NAME = "home";
/** The owner's home in their container, on their mail filesystem (the image's entrypoint makes it). */
export const USER_HOME_PATH = `${USER_MAIL_PATH}/${USER_HOME_NAME}`;
/** Where the directory holding the owner's keys is mounted (read-only) in their container. */
export const USER_KEYS_DIR = "/etc/semail/keys";
/** The file sshd reads the owner's keys from (assets/images/user/sshd.conf). */
export const USER_KEYS_PATH = `${USER_KEYS_DIR}/authorized_keys`;
/** The file's name in the host's directory. */
export const USER_KEYS_FILE = "authorized_keys";
/** Where the VM keeps each owner's keys directory: <dir>/<owner>/authorized_keys. */
export const USER_KEYS_HOST_DIR = "/var/lib/semail/user-keys";
/** Where the container keeps its SSH host keys. */
export const USER_HOST_KEYS_PATH = "/etc/ssh/keys";

/** The settings the user image's entrypoint reads (assets/images/user). */
export function userEnvironment(
  entry: Pick<MailboxEntry, "owner" | "address">,
  submission: string,
  aptProxy: string,
): string[] {
  const uid = mailUid(entry.owner);
  return [
    `SEMAIL_OWNER=${entry.owner}`,
    `SEMAIL_UID=${uid}`,
    `SEMAIL_GID=${uid}`,
    `SEMAIL_ADDRESS=${entry.address}`,
    `SEMAIL_SUBMISSION=${submission}`,
    `SEMAIL_APT_PROXY=${aptProxy}`,
  ];
}

/** The keys file's content: one key a line (the users list checked each). */
export function userKeysFile(sshKeys: readonly string[]): string {
  return sshKeys.map((key) => `${key}\n`).join("");
}

/**
 * The shell command that writes, from stdin, `<hostDir>/<owner>/authorized_keys` in place:
 * the directory root's and 0755, the file root's and 0644 (as sshd and the entrypoint
 * insist), a temp file renamed over the old one, so a reader sees the old keys or the new.
 */
export function userKeysWriteCommand(owner: string, hostDir: string = USER_KEYS_HOST_DIR): string {
  const dir = `${hostDir}/${owner}`;
  const file = `${dir}/${USER_KEYS_FILE}`;
  const temp = `${dir}/.${USER_KEYS_FILE}.new`;
  return [
    "set -eu",
    "umask 022",
    shellLine("install", "-d", "-m", "0755", "-o", "root", "-g", "root", dir),
    `cat >${shellLine(temp)}`,
    shellLine("chmod", "0644", temp),
    shellLine("sync", temp),
    shellLine("mv", "-f", temp, file),
  ].join("; ");
}
