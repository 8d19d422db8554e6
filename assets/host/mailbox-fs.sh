#!/usr/bin/env bash
# A user's mail filesystem on the VM: an ext4 image file or logical volume, mounted at
# <mail-root>/<owner> with the inbound store layout (INBOX, mail/).
#
#   mailbox-fs.sh create  --owner ID --size BYTES --mail-root DIR (--image-dir DIR | --vg NAME) [--address ADDR [--restore-kept]]
#   mailbox-fs.sh grow    ...same...        create if missing, then enlarge to BYTES
#   mailbox-fs.sh unmount ...same... [--lazy]  unmount and drop the fstab line; data kept
#                                           (--lazy: umount -l, for a mount still in use at stop)
#   mailbox-fs.sh destroy ... --yes-destroy-mail   unmount and delete the storage (mail is lost)
#   mailbox-fs.sh kept    --owner ID --mail-root DIR (--image-dir DIR | --vg NAME)
#                         print, as one line of JSON, what storage the owner has and for which
#                         address: {"kept":false} or {"kept":true,"address":..,"bytes":N,"mounted":B,"decision":..}
#   mailbox-fs.sh decide  ...same as kept... --address ADDR --choice restore|set-aside
#                         record the owner's answer for their kept storage; the next create or
#                         grow carries it out
# Options: --uid N --gid N (owner of INBOX and mail/), --fstab FILE (default /etc/fstab),
#          --state-dir DIR (LVM's records, default /var/lib/semail/mailbox-fs),
#          --dry-run (print the changing commands instead of running them).
#
# Every action is idempotent. A device that holds a filesystem is never formatted, and a
# mail directory that holds files but is not a mount is never mounted over.
#
# Kept mail never goes to another address unasked (as local mode, deploy/local/kept-mail.ts).
# Deleting a mailbox keeps its storage; create and grow with --address record the address
# the storage is for (image: <image-dir>/<owner>.address; LVM: <state-dir>/<owner>.address;
# one line, 0600). Storage recorded for ANOTHER address is set aside (unmounted if need be,
# never deleted) and a fresh one is made: image files move to <image-dir>/set-aside/
# <owner>-<UTC time>.img (the record beside it as .img.address), logical volumes are renamed
# aside-<owner>-<UTC time> (the record in <state-dir>/set-aside/). --restore-kept reattaches
# it under the new address instead. Storage of no recorded address (made before the records)
# is reattached. `decide` records the choice for the next run: "restore" writes the new
# address as the storage's, "set-aside" leaves <owner>.decision, so even the same address
# starts empty. grow (the update of a live mailbox) never sets aside for a new address: that is
# the same mailbox under a new name, and it keeps its mail.
set -euo pipefail

die() { echo "mailbox-fs: $*" >&2; exit 1; }
note() { echo "mailbox-fs: $*" >&2; }

action="${1:-}"
[ -n "$action" ] || die "usage: mailbox-fs.sh create|grow|unmount|destroy|kept|decide --owner ID --size BYTES --mail-root DIR (--image-dir DIR | --vg NAME)"
shift
owner="" size="" mail_root="" image_dir="" vg="" uid=0 gid=0 fstab=/etc/fstab dry=0 confirm=0 lazy=0
address="" restore_kept=0 choice="" state_dir=/var/lib/semail/mailbox-fs
while [ $# -gt 0 ]; do
  case "$1" in
    --owner) owner="${2:-}"; shift 2 ;;
    --size) size="${2:-}"; shift 2 ;;
    --mail-root) mail_root="${2:-}"; shift 2 ;;
    --image-dir) image_dir="${2:-}"; shift 2 ;;
    --vg) vg="${2:-}"; shift 2 ;;
    --uid) uid="${2:-}"; shift 2 ;;
    --gid) gid="${2:-}"; shift 2 ;;
    --fstab) fstab="${2:-}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --yes-destroy-mail) confirm=1; shift ;;
    --lazy) lazy=1; shift ;;
    --address) address="${2:-}"; shift 2 ;;
    --restore-kept) restore_kept=1; shift ;;
    --choice) choice="${2:-}"; shift 2 ;;
    --state-dir) state_dir="${2:-}"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

case "$action" in create|grow|unmount|destroy|kept|decide) ;; *) die "unknown action \"$action\": use create, grow, unmount, destroy, kept or decide" ;; esac
# Same rule as the users list's owner (config/users-list.ts): the name becomes a path.
[[ "$owner" =~ ^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$ && "$owner" != *..* ]] || die "--owner \"$owner\" is not a valid owner id (a-z, 0-9, '.', '_', '-')"
[[ "$mail_root" =~ ^/[A-Za-z0-9._/-]*$ && "$mail_root" != */../* && "$mail_root" != "/" ]] || die "--mail-root \"$mail_root\" must be an absolute path such as /var/mail/semail"
[[ "$uid" =~ ^[0-9]+$ && "$gid" =~ ^[0-9]+$ ]] || die "--uid and --gid must be numbers"
# The address is written to a file and printed as JSON: the users list's rule
# (config/users-list.ts), lower-case local@domain, nothing a file or JSON would read otherwise.
if [ -n "$address" ] || [ "$action" = decide ]; then
  [[ ${#address} -le 254 && "$address" =~ ^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?@[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ && "$address" != *..* ]] \
    || die "--address \"$address\" is not a mailbox address: use lower-case local@domain (a-z, 0-9, '.', '-')"
fi
if [ "$action" = decide ]; then
  case "$choice" in restore|set-aside) ;; *) die "--choice \"$choice\" is not valid: use restore or set-aside" ;; esac
fi
[[ "$state_dir" =~ ^/[A-Za-z0-9._/-]*$ && "$state_dir" != */../* ]] || die "--state-dir \"$state_dir\" must be an absolute path"
if [ -n "$image_dir" ] && [ -n "$vg" ]; then die "give --image-dir (image files) or --vg (LVM), not both"; fi
if [ -n "$image_dir" ]; then
  backend=image
  [[ "$image_dir" =~ ^/[A-Za-z0-9._/-]*$ && "$image_dir" != */../* ]] || die "--image-dir \"$image_dir\" must be an absolute path"
  device="$image_dir/$owner.img"
  records="$image_dir"
  aside_dir="$image_dir/set-aside"
elif [ -n "$vg" ]; then
  backend=lvm
  [[ "$vg" =~ ^[A-Za-z0-9_][A-Za-z0-9_.+-]*$ ]] || die "--vg \"$vg\" is not a volume group name"
  device="/dev/$vg/mail-$owner"
  records="$state_dir"
  aside_dir="$state_dir/set-aside"
else
  die "give --image-dir DIR (image files) or --vg NAME (LVM)"
fi
if [ "$action" = create ] || [ "$action" = grow ]; then
  [[ "$size" =~ ^[0-9]+$ ]] || die "--size \"$size\" must be a byte count"
  # Whole MiB, at least 16 MiB (ext4 with a journal needs room).
  mib=$(( (size + 1048575) / 1048576 ))
  [ "$mib" -ge 16 ] || die "--size $size is below the 16 MiB minimum"
fi
target="$mail_root/$owner"
if [ "$backend" = image ]; then
  mount_opts="loop,nodev,nosuid,noexec"
else
  mount_opts="nodev,nosuid,noexec"
fi
fstab_line="$device $target ext4 $mount_opts 0 2"

run() {
  if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi
}

# umount, tried again for up to 5 s while the mount is busy: the inbound store keeps a
# mailbox's files open up to 2 s after its last message (local mode's store is asked to let
# go first, deploy/local/applier.ts). Holding it longer is a user's doing: the last error stays.
umount_when_free() {
  if [ "$dry" = 1 ]; then echo "+ umount $target"; return 0; fi
  local tries=0
  until umount "$target" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 20 ]; then umount "$target"; return; fi
    sleep 0.25
  done
}

exists() { [ -e "$device" ]; }

current_bytes() {
  if [ "$backend" = image ]; then stat -c %s "$device"; else blockdev --getsize64 "$device"; fi
}

# The block device behind the storage, as mounted (the loop device for an image).
mounted_source() { findmnt -n -o SOURCE --mountpoint "$target" 2>/dev/null || true; }

is_ours_mounted() {
  local src
  src="$(mounted_source)"
  [ -n "$src" ] || return 1
  if [ "$backend" = image ]; then
    losetup -j "$device" -n -O NAME 2>/dev/null | grep -qxF "$src"
  else
    [ "$(readlink -f "$src")" = "$(readlink -f "$device")" ]
  fi
}

allocate() {
  if [ "$backend" = image ]; then
    run mkdir -p "$image_dir"
    run chmod 0700 "$image_dir"
    # fallocate reserves the blocks so a full disk shows up now, not as lost mail later.
    run fallocate -l "${mib}MiB" "$device" || run truncate -s "${mib}M" "$device"
    run chmod 0600 "$device"
  else
    run lvcreate --yes --wipesignatures n -L "${mib}m" -n "mail-$owner" "$vg"
  fi
}

format_if_blank() {
  local type=""
  if exists; then type="$(blkid -p -o value -s TYPE "$device" 2>/dev/null || true)"; fi
  if [ "$type" = ext4 ]; then return 0; fi
  if [ -n "$type" ]; then die "$device holds a $type filesystem; refusing to format it (it may hold mail). Inspect it by hand."; fi
  # blkid found no signature; `file -s` is a second opinion (it also sees some data blkid does not).
  if exists && [ "$dry" = 0 ]; then
    local what
    what="$(file -b -s "$device" 2>/dev/null || true)"
    case "$what" in data|empty|"") ;; *) die "$device is not blank ($what); refusing to format it. Inspect it by hand." ;; esac
  fi
  run mkfs.ext4 -q -F -m 0 -L "mail-${owner:0:11}" "$device"
}

mount_fs() {
  if is_ours_mounted; then return 0; fi
  if [ -n "$(mounted_source)" ]; then die "$target already has $(mounted_source) mounted, not $device; unmount it first"; fi
  if [ -d "$target" ] && [ -n "$(ls -A "$target")" ]; then
    die "$target is not a mount but holds files (mail written before the filesystem was mounted?); move them aside, then run again"
  fi
  run mkdir -p "$target"
  run mount -t ext4 -o "$mount_opts" "$device" "$target"
}

# Mount again after a reboot: one fstab line per mailbox.
fstab_add() {
  if [ -f "$fstab" ] && grep -qxF "$fstab_line" "$fstab"; then return 0; fi
  if [ "$dry" = 1 ]; then echo "+ append to $fstab: $fstab_line"; return 0; fi
  echo "$fstab_line" >> "$fstab"
}

fstab_remove() {
  [ -f "$fstab" ] && grep -qxF "$fstab_line" "$fstab" || return 0
  if [ "$dry" = 1 ]; then echo "+ remove from $fstab: $fstab_line"; return 0; fi
  local temp="$fstab.semail.$$"
  grep -vxF "$fstab_line" "$fstab" > "$temp" || true
  cat "$temp" > "$fstab"
  rm -f "$temp"
}

# The inbound store layout: <root>/INBOX (mbox) and <root>/mail/ (other folders).
populate() {
  if [ "$dry" = 1 ]; then echo "+ populate $target/INBOX and $target/mail/"; return 0; fi
  [ -e "$target/INBOX" ] || install -m 0600 -o "$uid" -g "$gid" /dev/null "$target/INBOX"
  # The inbound daemon takes mail only into a root that has this marker (or an INBOX): an
  # unmounted mount point has neither. Keep the name in step with PROVISIONED_MARKER (config/mailbox-layout.ts).
  [ -e "$target/.semail-mailbox" ] || install -m 0644 /dev/null "$target/.semail-mailbox"
  [ -d "$target/mail" ] || install -d -m 0700 -o "$uid" -g "$gid" "$target/mail"
  # Also when they exist: a root made before its owner had a uid of their own becomes theirs.
  # -h: a user who made INBOX or mail/ a link (sudo in their container) must not get us to
  # chown what it points at on the host.
  chown -h "$uid:$gid" "$target" "$target/INBOX" "$target/mail"
  chmod 0700 "$target"
}

# Online resize first; where the kernel refuses it (some containers lack the capability),
# unmount, check and resize offline, and mount again. A busy mount fails with a clear message.
# The ext4 filesystem's own size on device $1: block count times block size.
fs_bytes() {
  dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Block count/ {n=$2} /^Block size/ {b=$2} END {printf "%d", n*b}'
}

# Detaches the image's loop devices, now unmounted. One left attached would be reused by the
# next mount with its own cache of the old superblock, hiding what resize2fs wrote to the file.
release_loops() {
  local tries=0 loop
  while [ -n "$(losetup -j "$device" -n -O NAME 2>/dev/null)" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 40 ] || die "$device is still on $(losetup -j "$device" -n -O NAME | xargs) after umount; detach it (losetup -d) and run grow again"
    for loop in $(losetup -j "$device" -n -O NAME 2>/dev/null); do losetup -d "$loop" 2>/dev/null || true; done
    sleep 0.25
  done
}

grow_ext4() {
  if [ "$dry" = 1 ]; then echo "+ resize2fs $1"; return 0; fi
  local why
  if why="$(resize2fs "$1" 2>&1)"; then return 0; fi
  note "online resize of $1 refused ($(printf '%s' "$why" | tail -n 1)); resizing offline"
  umount_when_free || die "cannot unmount $target to resize it (in use?); stop the containers using it and run grow again"
  if [ "$backend" = image ]; then release_loops; fi
  e2fsck -f -p "$device" >/dev/null || die "e2fsck found problems on $device; repair it by hand (e2fsck -f $device), then run grow again"
  resize2fs "$device" >/dev/null 2>&1 || die "resize2fs $device failed"
  mount_fs
}

enlarge() {
  local have want=$(( mib * 1048576 ))
  have="$(current_bytes)"
  if [ "$have" -eq "$want" ]; then return 0; fi
  if [ "$have" -gt "$want" ]; then
    die "$device is $have bytes, larger than the requested $want: shrinking is not supported (it could lose mail); raise the size in the users list"
  fi
  if [ "$backend" = image ]; then
    run fallocate -l "${mib}MiB" "$device" || run truncate -s "${mib}M" "$device"
    local loop
    loop="$(losetup -j "$device" -n -O NAME | head -n 1)"
    # Tell the loop device its file grew, then grow ext4 while mounted. resize2fs reads the
    # device's size: until the loop device shows the new one, it would find nothing to do.
    run losetup -c "$loop"
    if [ "$dry" = 0 ]; then
      local tries=0
      while [ "$(blockdev --getsize64 "$loop")" -ne "$want" ]; do
        tries=$((tries + 1))
        [ "$tries" -le 20 ] || die "$loop still shows $(blockdev --getsize64 "$loop") bytes, not $want, after losetup -c; run grow again"
        sleep 0.25
        losetup -c "$loop"
      done
    fi
    grow_ext4 "$loop"
    # "Nothing to do" from resize2fs is exit 0 too: check the filesystem really has the room.
    # Read what is mounted now: an offline resize mounts the image again on another loop device.
    if [ "$dry" = 0 ] && [ "$(fs_bytes "$(mounted_source)")" -lt "$want" ]; then
      grow_ext4 "$(mounted_source)"
      [ "$(fs_bytes "$(mounted_source)")" -ge "$want" ] || die "$target is still $(fs_bytes "$(mounted_source)") bytes after resize2fs, not $want; run grow again"
    fi
  else
    run lvextend -L "${mib}m" "$device"
    grow_ext4 "$device"
  fi
  note "grew $device from $have to $want bytes"
}

unmount_fs() {
  if [ -n "$(mounted_source)" ]; then
    is_ours_mounted || die "$target has $(mounted_source) mounted, not $device; leaving it alone"
    # Lazily: gone from the tree now, the filesystem (and its loop device) freed when its last user goes.
    if [ "$lazy" = 1 ]; then run umount -l "$target"; else umount_when_free; fi
  fi
  fstab_remove
}

# --- The address the storage is for, and the owner's decision (see the header) ---
address_file="$records/$owner.address"
decision_file="$records/$owner.decision"

recorded_address() { if [ -f "$address_file" ]; then head -n 1 "$address_file"; fi; }

# Written whole (a temp file renamed over), so a crash leaves the old line or the new one.
write_record() {
  local file="$1" line="$2"
  if [ "$dry" = 1 ]; then echo "+ write $file: $line"; return 0; fi
  mkdir -p "$(dirname "$file")"
  chmod 0700 "$(dirname "$file")"
  ( umask 077; printf '%s\n' "$line" > "$file.tmp.$$" )
  mv -f "$file.tmp.$$" "$file"
}

# Where a set-aside storage goes: <owner>-<UTC time> as deploy/local/kept-mail.ts names it,
# with a number when the name is taken (rename would replace silently).
aside_name() {
  local stamp base n=2 name
  stamp="$(date -u +%Y%m%dT%H%M%S%3NZ)"
  if [ "$backend" = image ]; then base="$owner-$stamp"; else base="aside-$owner-$stamp"; fi
  name="$base"
  while [ -e "$aside_dir/$name.img" ] || [ -e "$aside_dir/$name.img.address" ] || [ -e "$aside_dir/$name.address" ] || { [ "$backend" = lvm ] && [ -e "/dev/$vg/$name" ]; }; do
    [ "$n" -le 100 ] || die "no free name for $owner's kept mail in $aside_dir"
    name="$base-$n"; n=$((n + 1))
  done
  echo "$name"
}

# Unmounts the storage (for a new address) and moves it and its record aside; never deletes.
set_aside() {
  local name
  if is_ours_mounted; then
    # Not lazily: the storage is renamed next, and a process still in it would write on.
    umount_when_free || die "$target is in use$(holders); its mail (of $(recorded_address_of "$address_file")) is to be set aside for the new address: stop what uses it, then run again"
  fi
  fstab_remove
  name="$(aside_name)"
  run mkdir -p "$aside_dir"
  run chmod 0700 "$aside_dir"
  if [ "$backend" = image ]; then
    run mv -n "$device" "$aside_dir/$name.img"
    if [ -f "$address_file" ]; then run mv -f "$address_file" "$aside_dir/$name.img.address"; fi
    note "the kept mail of $(recorded_address_of "$aside_dir/$name.img.address") is set aside as $aside_dir/$name.img (not deleted); $target starts empty"
  else
    run lvrename "$vg" "mail-$owner" "$name"
    if [ -f "$address_file" ]; then run mv -f "$address_file" "$aside_dir/$name.address"; fi
    note "the kept mail of $(recorded_address_of "$aside_dir/$name.address") is set aside as /dev/$vg/$name (not deleted); $target starts empty"
  fi
}
# " by processes 12 34" when fuser is there to tell.
holders() {
  local pids
  pids="$(fuser -m "$target" 2>/dev/null | xargs || true)"
  if [ -n "$pids" ]; then echo " by processes $pids"; fi
}
recorded_address_of() { if [ -f "$1" ]; then head -n 1 "$1"; else echo "an earlier mailbox"; fi; }

# Before create or grow for $address: what the storage already there may be used for.
keep_for_address() {
  local recorded
  recorded="$(recorded_address)"
  if [ -f "$decision_file" ] && [ "$restore_kept" = 0 ]; then
    # The owner chose to start empty: even the same address gets a fresh filesystem.
    if exists; then set_aside; fi
    run rm -f "$decision_file"
  elif exists && [ -n "$recorded" ] && [ "$recorded" != "$address" ]; then
    if [ "$action" = grow ]; then
      # grow is the update of a live mailbox: a new address for it keeps its mail.
      note "$device, made for $recorded, now serves $address"
    elif [ "$restore_kept" = 1 ]; then
      note "$device, made for $recorded, is reattached for $address (--restore-kept)"
    else
      set_aside
    fi
  fi
  if [ "$restore_kept" = 1 ]; then run rm -f "$decision_file"; fi
}

# One line of JSON for an applier: what the owner has kept, for which address.
print_kept() {
  if ! exists; then echo '{"kept":false}'; return 0; fi
  local recorded json mounted=false
  recorded="$(recorded_address)"
  if is_ours_mounted; then mounted=true; fi
  json="{\"kept\":true,\"bytes\":$(current_bytes),\"mounted\":$mounted"
  # Only an address of the checked form is printed (it needs no JSON escaping).
  if [[ "$recorded" =~ ^[a-z0-9.@-]+$ ]]; then json="$json,\"address\":\"$recorded\""; fi
  if [ -f "$decision_file" ]; then json="$json,\"decision\":\"set-aside\""; fi
  echo "$json}"
}

# The owner's answer, kept for the next create or grow. "restore": the decision goes first,
# then the new address is written: a crash between leaves the old address, which sets aside.
record_decision() {
  if ! exists; then return 0; fi
  if [ "$choice" = restore ]; then
    run rm -f "$decision_file"
    write_record "$address_file" "$address"
  else
    write_record "$decision_file" set-aside
  fi
}

case "$action" in
  create|grow)
    if [ -n "$address" ]; then keep_for_address; fi
    if ! exists; then allocate; fi
    format_if_blank
    mount_fs
    fstab_add
    populate
    if [ -n "$address" ] && [ "$(recorded_address)" != "$address" ]; then write_record "$address_file" "$address"; fi
    if [ "$action" = grow ]; then
      enlarge
    elif exists && [ "$dry" = 0 ] && [ "$(current_bytes)" -ne $(( mib * 1048576 )) ]; then
      note "$device is $(current_bytes) bytes, not $(( mib * 1048576 )); run grow to change it (create never resizes)"
    fi
    ;;
  unmount)
    unmount_fs
    ;;
  destroy)
    [ "$confirm" = 1 ] || die "destroy deletes $device and all mail in it; add --yes-destroy-mail to confirm"
    unmount_fs
    if exists; then
      if [ "$backend" = image ]; then run rm -f "$device"; else run lvremove --yes "$device"; fi
    fi
    run rm -f "$address_file" "$decision_file"
    if [ -d "$target" ] && [ "$dry" = 0 ]; then rmdir "$target" 2>/dev/null || note "$target is not empty after unmount; left in place"; fi
    ;;
  kept)
    print_kept
    ;;
  decide)
    record_decision
    ;;
esac
