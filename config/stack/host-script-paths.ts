// Where the host scripts (assets/host/*.sh) live on the VM and how a command calls
// one: shared by the Pulumi program and local mode.

/** Where the scripts live on the VM. */
export const HOST_SCRIPTS_DIR = "/usr/local/lib/semail";
export const HOST_SCRIPTS = [
  "mailbox-fs.sh",
  "install-zone.sh",
  "jump-host.sh",
  "jump-access.sh",
  "jump-keys.sh",
  "users-firewall.sh",
  "metrics-firewall.sh",
] as const;
/** Debian packages the VM needs: Docker, named, LVM, ext4 tools, blkid/file/losetup, setfacl, CA certificates (they bring openssl, which reads the TLSA hashes), rsync (`semail mailbox move` copies a mailbox between hosts). */
export const VM_PACKAGES = [
  "docker.io",
  "bind9",
  "bind9-utils",
  "lvm2",
  "e2fsprogs",
  "file",
  "util-linux",
  "acl",
  "ca-certificates",
  "rsync",
] as const;

/** `bash <dir>/<script>` as a command prefix. */
export function hostScript(script: (typeof HOST_SCRIPTS)[number]): string {
  return `bash ${HOST_SCRIPTS_DIR}/${script}`;
}
