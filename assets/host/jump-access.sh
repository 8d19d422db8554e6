#!/usr/bin/env bash
# One mailbox owner's keys for the SEMail jump account: DIR/<owner>.keys, read by
# jump-keys.sh (sshd's AuthorizedKeysCommand). One file per owner, so no shared file
# is ever rewritten.
#
#   jump-access.sh write  --owner ID [--dir DIR] [--group G] < lines
#   jump-access.sh remove --owner ID --sha256 HEX [--dir DIR]
#
# write replaces the file atomically (temp file, fsync, rename) with stdin, after checking
# that every line is 'restrict,port-forwarding,permitopen="<IPv4>:22" <public key>'.
# remove deletes the file only while its content still has the given SHA-256 (what the
# caller wrote): a newer write (a replacement created before the old one is deleted)
# is left alone. Both are idempotent.
set -euo pipefail

die() { echo "jump-access: $*" >&2; exit 1; }
note() { echo "jump-access: $*" >&2; }

action="${1:-}"
[ -n "$action" ] || die "usage: jump-access.sh write|remove --owner ID [--dir DIR] [--sha256 HEX]"
shift
owner="" dir=/etc/semail/jump group="" sha=""
while [ $# -gt 0 ]; do
  case "$1" in
    --owner) owner="${2:-}"; shift 2 ;;
    --dir) dir="${2:-}"; shift 2 ;;
    --group) group="${2:-}"; shift 2 ;;
    --sha256) sha="${2:-}"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
case "$action" in write|remove) ;; *) die "unknown action \"$action\": use write or remove" ;; esac
# Same rule as the users list's owner (config/users-list.ts): the name becomes a path.
[[ "$owner" =~ ^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$ && "$owner" != *..* ]] || die "--owner \"$owner\" is not a valid owner id (a-z, 0-9, '.', '_', '-')"
[[ "$dir" =~ ^/[A-Za-z0-9._/-]*$ && "$dir" != */../* && "$dir" != "/" ]] || die "--dir \"$dir\" must be an absolute path such as /etc/semail/jump"
[ -d "$dir" ] || die "$dir does not exist: run jump-host.sh setup first"
file="$dir/$owner.keys"

KEY='(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/=]+( [^"]*)?'
LINE="^restrict,port-forwarding,permitopen=\"([0-9]{1,3}\.){3}[0-9]{1,3}:22\" $KEY\$"

case "$action" in
  write)
    if [ -n "$group" ]; then [[ "$group" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--group \"$group\" is not a group name"; fi
    temp="$dir/.$owner.keys.$$"
    trap 'rm -f "$temp"' EXIT
    cat > "$temp"
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
      n=$((n + 1))
      [[ "$line" =~ $LINE ]] || die "line $n is not 'restrict,port-forwarding,permitopen=\"IP:22\" <public key>'; nothing written"
    done < "$temp"
    chmod 0640 "$temp"
    if [ -n "$group" ]; then chgrp "$group" "$temp"; fi
    sync "$temp" 2>/dev/null || true
    mv -f "$temp" "$file"
    trap - EXIT
    note "wrote $file ($n keys)"
    ;;
  remove)
    [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "--sha256 \"$sha\" must be 64 hex digits (the content this caller wrote)"
    [ -e "$file" ] || exit 0
    have="$(sha256sum < "$file" | cut -d' ' -f1)"
    if [ "$have" = "$sha" ]; then
      rm -f "$file"
      note "removed $file"
    else
      note "$file changed since (a newer write); left in place"
    fi
    ;;
esac
