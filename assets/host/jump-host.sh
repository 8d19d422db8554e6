#!/usr/bin/env bash
# The SEMail jump account on the VM: users reach their own container's sshd with
#   ssh -J semail-jump@VM OWNER@CONTAINER-ADDRESS
#
#   jump-host.sh setup --user NAME --keys-user NAME --dir DIR --command PATH --sshd-conf PATH < sshd-stanza
#
# Makes (idempotently) the jump account (no shell: nologin, no password, no home), the
# dedicated account sshd runs the keys command as, DIR for the per-owner *.keys files
# (root-owned, readable by the keys account only), installs jump-keys.sh as PATH (sshd
# wants it root-owned and not writable by others), and installs the sshd stanza from
# stdin. The stanza only replaces the old one once `sshd -t` accepts it; sshd is then
# reloaded. Options: --lib DIR (where jump-keys.sh is), --no-reload.
set -euo pipefail

die() { echo "jump-host: $*" >&2; exit 1; }
note() { echo "jump-host: $*" >&2; }

action="${1:-}"
[ "$action" = setup ] || die "usage: jump-host.sh setup --user NAME --keys-user NAME --dir DIR --command PATH --sshd-conf PATH < stanza"
shift
user="" keys_user="" dir="" keys_command="" conf="" lib="$(dirname "$(readlink -f "$0")")" reload=1
while [ $# -gt 0 ]; do
  case "$1" in
    --user) user="${2:-}"; shift 2 ;;
    --keys-user) keys_user="${2:-}"; shift 2 ;;
    --dir) dir="${2:-}"; shift 2 ;;
    --command) keys_command="${2:-}"; shift 2 ;;
    --sshd-conf) conf="${2:-}"; shift 2 ;;
    --lib) lib="${2:-}"; shift 2 ;;
    --no-reload) reload=0; shift ;;
    *) die "unknown option $1" ;;
  esac
done
for name in "$user" "$keys_user"; do
  [[ "$name" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "\"$name\" is not a valid account name (--user, --keys-user)"
done
[ "$user" != "$keys_user" ] || die "--user and --keys-user must differ: the keys command must not run as the account it vouches for"
for path in "$dir" "$keys_command" "$conf"; do
  [[ "$path" =~ ^/[A-Za-z0-9._/-]+$ && "$path" != */../* ]] || die "\"$path\" must be an absolute path (--dir, --command, --sshd-conf)"
done
[ -f "$lib/jump-keys.sh" ] || die "$lib/jump-keys.sh is missing (--lib)"
nologin="$(command -v nologin || echo /usr/sbin/nologin)"

# Accounts: no shell, no home; '*' (not '!') as password, so sshd treats the jump account
# as key-only rather than locked.
getent passwd "$keys_user" >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" "$keys_user"
getent passwd "$user" >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell "$nologin" --password '*' "$user"
usermod --shell "$nologin" "$user"

# The keys directory: written by root, read by the keys account only. Its parent
# (/etc/semail, 0750) gets a traverse-only ACL entry for that account.
install -d -m 0750 -o root -g "$keys_user" "$dir"
parent="$(dirname "$dir")"
if ! runuser -u "$keys_user" -- test -x "$parent" 2>/dev/null; then
  setfacl -m "u:$keys_user:x" "$parent" || die "cannot let $keys_user traverse $parent (setfacl; is the acl package installed?)"
fi
install -m 0755 -o root -g root "$lib/jump-keys.sh" "$keys_command"

# The sshd stanza: keep the old one until sshd -t accepts the new configuration.
stanza="$(cat)"
[ -n "$stanza" ] || die "no sshd stanza on stdin"
if [ -f "$conf" ] && [ "$(cat "$conf")" = "$stanza" ]; then
  note "$conf unchanged"
  exit 0
fi
install -d -m 0755 "$(dirname "$conf")"
backup=""
if [ -f "$conf" ]; then backup="$conf.semail-old"; cp -p "$conf" "$backup"; fi
printf '%s\n' "$stanza" > "$conf.new"
chmod 0644 "$conf.new"
mv -f "$conf.new" "$conf"
if ! problem="$(sshd -t 2>&1)"; then
  if [ -n "$backup" ]; then mv -f "$backup" "$conf"; else rm -f "$conf"; fi
  die "sshd rejects the jump stanza; kept the previous configuration: $problem"
fi
[ -z "$backup" ] || rm -f "$backup"
if [ "$reload" = 1 ]; then
  systemctl reload ssh 2>/dev/null || service ssh reload || die "installed $conf but could not reload sshd; reload it by hand"
fi
note "installed $conf"
