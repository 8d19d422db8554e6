// What a user's container is given: its mount points and the environment its image's
// entrypoint reads. Production's Mailbox component and local mode make it the same way.
import { mailUid } from "../mail-uid.ts";
import type { MailboxEntry } from "../users-list.ts";

/** Where the user's mail filesystem is mounted in their container. */
export const USER_MAIL_PATH = "/mail";
/** Where the user's SSH keys are installed in their container. */
export const USER_KEYS_PATH = "/etc/semail/authorized_keys";
/** Where the container keeps its SSH host keys. */
export const USER_HOST_KEYS_PATH = "/etc/ssh/keys";

/** The settings the user image's entrypoint reads (assets/images/user). */
export function userEnvironment(entry: Pick<MailboxEntry, "owner" | "address">, submission: string, aptProxy: string): string[] {
  const uid = mailUid(entry.owner);
  return [
    `SEMAIL_OWNER=${entry.owner}`, `SEMAIL_UID=${uid}`, `SEMAIL_GID=${uid}`, `SEMAIL_ADDRESS=${entry.address}`,
    `SEMAIL_SUBMISSION=${submission}`, `SEMAIL_APT_PROXY=${aptProxy}`,
  ];
}
