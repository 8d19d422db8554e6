#!/bin/sh
# Written by SEMail (services/imap/config.ts): subscribe new pair folders, then run imap.
subscribe() {
  control='/var/lib/semail/imap/control'/"$USER"
  [ -n "$USER" ] && [ -d "$HOME/mail" ] && [ -d "$control" ] || return 0
  sub=$control/.subscriptions offered=$control/.semail-offered
  [ -f "$offered" ] || : >"$offered" || return 0
  new=$(cd "$HOME/mail" && for f in *; do [ -f "$f" ] && printf '%s\n' "$f"; done | grep -v '\.lock$' | grep -vxF -f "$offered")
  [ -n "$new" ] || return 0
  tries=0
  until (set -C; : >"$sub.lock") 2>/dev/null; do
    tries=$((tries + 1)); [ "$tries" -lt 30 ] || return 0; sleep 0.1
  done
  tmp=$sub.semail.$$
  if [ -s "$sub" ]; then
    { cat "$sub"; printf '%s\n' "$new" | grep -vxF -f "$sub"; true; } >"$tmp"
  else
    printf 'V\t2\n\n%s\n' "$new" >"$tmp"
  fi && mv -f "$tmp" "$sub" && printf '%s\n' "$new" >>"$offered"
  rm -f "$tmp" "$sub.lock"
}
subscribe >/dev/null 2>&1
exec "$@"
