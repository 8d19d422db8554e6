// Where the VM keeps the mailbox filesystems, and how mailbox-fs.sh is told: shared by the
// Mailbox component, the web form's Pulumi applier, which asks the VM about kept mail, and
// `semail mailbox move`, which makes the filesystem on the target host. Kept apart from
// components/ so the form (bundled, without the Pulumi SDK) can use it.
import { mailUid } from "../mail-uid.ts";
import type { MailboxEntry } from "../users-list.ts";

export type MailboxStorage =
  | { readonly backend: "lvm"; readonly vgName: string; readonly mailRoot: string }
  | { readonly backend: "image"; readonly imageDir: string; readonly mailRoot: string };

/** Where `storage` puts the filesystems, as mailbox-fs.sh's options. */
export function storagePlace(storage: MailboxStorage): string[] {
  return [
    "--mail-root",
    storage.mailRoot,
    ...(storage.backend === "lvm" ? ["--vg", storage.vgName] : ["--image-dir", storage.imageDir]),
  ];
}

/**
 * mailbox-fs.sh's arguments for `action` on this entry's filesystem. create and grow name the
 * address: storage kept from a mailbox of another address is set aside, not reattached
 * (assets/host/mailbox-fs.sh), unless the owner chose otherwise on the form.
 */
export function mailboxFsArguments(
  action: "create" | "grow" | "destroy",
  entry: Pick<MailboxEntry, "owner" | "size" | "address">,
  storage: MailboxStorage,
): string[] {
  const uid = String(mailUid(entry.owner));
  return [
    action,
    "--owner",
    entry.owner,
    "--size",
    String(entry.size),
    ...storagePlace(storage),
    ...(action === "destroy" ? ["--yes-destroy-mail"] : ["--uid", uid, "--gid", uid, "--address", entry.address]),
  ];
}
