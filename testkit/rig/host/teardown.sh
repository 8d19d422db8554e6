#!/bin/bash
# Run inside the rig (docker exec) just before the test removes it: what this host made
# that the machine's kernel would keep after the container is gone goes first. Loop
# devices are the machine's, shared with every other container on it, so only those whose
# backing file is a file of this host (same device and inode) are touched. Prints them,
# one "NAME MAJ:MIN INODE" a line, for the test to check from outside; exits 1 when
# something could not be undone.
set -u
status=0

# Inner containers first: one may hold a bind mount of a loop-mounted filesystem. Images
# stay (the data root is kept as a cache); containers, volumes and networks do not.
if systemctl -q is-active docker.service; then
  ids=$(docker ps -aq)
  if [ -n "$ids" ]; then docker rm -f -v $ids >/dev/null || status=1; fi
  docker volume prune -f >/dev/null || status=1
  docker network prune -f >/dev/null || status=1
fi
systemctl stop docker.socket docker.service containerd.service || status=1

ours() {
  losetup -l -n -O NAME,BACK-MAJ:MIN,BACK-INO | while read -r name dev ino; do
    file=$(cat "/sys/block/${name#/dev/}/loop/backing_file" 2>/dev/null) || continue
    [ -f "$file" ] && [ "$(stat -c '%Hd:%Ld %i' "$file")" = "$dev $ino" ] && echo "$name $dev $ino"
  done
}
found=$(ours)
[ -z "$found" ] || echo "$found"

# Loop-backed filesystems, the last mounted first; a loop made by `mount -o loop` goes with it.
findmnt -rn -o TARGET,SOURCE | tac | while read -r target source; do
  case "$source" in /dev/loop*) umount "$target" || echo "teardown: cannot unmount $target" >&2 ;; esac
done
[ -z "$(findmnt -rn -o SOURCE | grep '^/dev/loop')" ] || status=1
while read -r name _; do
  [ -z "$name" ] || [ ! -e "/sys/block/${name#/dev/}/loop" ] || losetup -d "$name" 2>/dev/null || true
done <<<"$(ours)"
[ -z "$(ours)" ] || { echo "teardown: loop devices still attached: $(ours)" >&2; status=1; }
exit $status
