// A new mount namespace (unshare --mount) starts with a copy of every mount there is, other
// tests' loop-mounted mailboxes too, and a copy keeps its loop device busy until the namespace
// ends: a parallel test's unmount then leaves its device attached. Run first in the namespace,
// this shell line lets go of those copies (lazily, in that namespace only: its propagation is
// private).
export const RELEASE_LOOP_MOUNT_COPIES =
  "awk '$1 ~ /^\\/dev\\/loop/ {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l \"$m\"; done";
