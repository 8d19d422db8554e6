// Where the VM keeps the mailbox filesystems, and how mailbox-fs.sh is told: shared by the
// Mailbox component and the web form's Pulumi applier, which asks the VM about kept mail. Kept
// apart from components/ so the form (bundled, without the Pulumi SDK) can use it.

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
