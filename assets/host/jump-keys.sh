#!/bin/bash
# sshd's AuthorizedKeysCommand for the SEMail jump account (installed by jump-host.sh as
# /usr/local/sbin/semail-jump-keys; runs as the dedicated keys user, never root).
#
#   jump-keys.sh USER [--user JUMP_USER] [--dir DIR]
#
# Prints every line of DIR/*.keys (one file per mailbox owner, written by jump-access.sh)
# when USER is the jump account; nothing for anyone else. Only lines that carry our
# restriction are printed, so a hand-edited file can never grant a shell or open tunnels.
set -u
user="${1:-}"
jump_user=semail-jump dir=/etc/semail/jump
shift || true
while [ $# -gt 0 ]; do
  case "$1" in
    --user) jump_user="${2:-}"; shift 2 ;;
    --dir) dir="${2:-}"; shift 2 ;;
    *) echo "jump-keys: unknown option $1" >&2; exit 1 ;;
  esac
done
[ "$user" = "$jump_user" ] || exit 0
shopt -s nullglob
for file in "$dir"/*.keys; do
  [ -f "$file" ] || continue
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      'restrict,port-forwarding,permitopen="'*) printf '%s\n' "$line" ;;
    esac
  done < "$file"
done
exit 0
