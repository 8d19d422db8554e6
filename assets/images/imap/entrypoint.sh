#!/bin/bash
# Checks the settings, writes Dovecot's configuration from the templates (rendered by
# services/imap/config.ts), and runs Dovecot in the foreground. Settings:
#   IMAP_LDAP_URL          ldap://HOST[:PORT] or ldaps://HOST[:PORT] of the directory (required)
#   IMAP_LDAP_BASE_DN      base DN; a login binds as uid=<login>,ou=people,<base> (required)
#   IMAP_LDAP_STARTTLS     yes: upgrade ldap:// with StartTLS; IMAP_LDAP_CA_FILE: its CA
#   IMAP_MAIL_ROOT         the mailbox roots, <root>/<owner>/INBOX (default /var/mail/semail)
#   IMAP_TRUSTED_NETWORKS  networks that may log in without TLS, besides loopback (space or comma separated)
#   IMAP_LISTEN            listen addresses (default "*, ::", or "*" without IPv6)
# Mounts: /etc/semail/tls/{cert,key}.pem, and /etc/semail/imap holding `users` (SEMail's
# renderUsersFile; mount the directory, so a rewrite by rename reaches the container).
set -euo pipefail
fail() { echo "semail-imap: $*" >&2; exit 2; }

templates=/usr/local/share/semail-imap
state=/var/lib/semail/imap
users=/etc/semail/imap/users

url=${IMAP_LDAP_URL:-}
[[ -n $url ]] || fail "IMAP_LDAP_URL is not set (e.g. IMAP_LDAP_URL=ldap://semail-directory:389)"
url_pattern='^ldaps?://[]A-Za-z0-9.:_[-]+/?$'
[[ $url =~ $url_pattern ]] || fail "IMAP_LDAP_URL=\"$url\" must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]"
url=${url%/}
base=${IMAP_LDAP_BASE_DN:-}
[[ -n $base ]] || fail "IMAP_LDAP_BASE_DN is not set (e.g. IMAP_LDAP_BASE_DN=dc=semail,dc=email)"
[[ $base =~ ^[A-Za-z]+=[A-Za-z0-9\ ._-]+(,[A-Za-z]+=[A-Za-z0-9\ ._-]+)*$ ]] || fail "IMAP_LDAP_BASE_DN=\"$base\" is not a DN such as dc=semail,dc=email"
mail_root=${IMAP_MAIL_ROOT:-/var/mail/semail}
mail_root=${mail_root%/}
[[ $mail_root =~ ^/[A-Za-z0-9._/-]*$ ]] || fail "IMAP_MAIL_ROOT=\"$mail_root\" must be an absolute path of letters, digits and . _ - /"
[[ -d $mail_root ]] || fail "IMAP_MAIL_ROOT=$mail_root is not a directory: mount the mailbox roots there"
trusted=${IMAP_TRUSTED_NETWORKS:-}
trusted=${trusted//,/ }
for network in $trusted; do
  [[ $network =~ ^[0-9a-fA-F:.]+(/[0-9]{1,3})?$ ]] || fail "IMAP_TRUSTED_NETWORKS: \"$network\" is not an address or ADDR/PREFIX such as 10.88.0.0/16"
done
if [[ -n ${IMAP_LISTEN:-} ]]; then
  listen=$IMAP_LISTEN
  [[ $listen =~ ^(\*|::|[0-9a-fA-F.:]+)(,\ ?(\*|::|[0-9a-fA-F.:]+))*$ ]] || fail "IMAP_LISTEN=\"$listen\" must be addresses such as \"*, ::\" or 10.88.0.2"
elif [[ -s /proc/net/if_inet6 ]]; then
  listen="*, ::"
else
  listen="*"
fi
for pem in /etc/semail/tls/cert.pem /etc/semail/tls/key.pem; do
  [[ -r $pem ]] || fail "$pem cannot be read: mount the certificate and key at /etc/semail/tls (cert.pem, key.pem)"
done
[[ -r $users ]] || fail "$users cannot be read: mount the directory holding the users file SEMail renders at /etc/semail/imap"
ldap_extra=()
case ${IMAP_LDAP_STARTTLS:-no} in
  yes) ldap_extra+=("tls = yes") ;;
  no) ;;
  *) fail "IMAP_LDAP_STARTTLS=\"$IMAP_LDAP_STARTTLS\" must be yes or no" ;;
esac
if [[ -n ${IMAP_LDAP_CA_FILE:-} ]]; then
  [[ -r $IMAP_LDAP_CA_FILE && $IMAP_LDAP_CA_FILE =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "IMAP_LDAP_CA_FILE=$IMAP_LDAP_CA_FILE cannot be read"
  ldap_extra+=("tls_ca_cert_file = $IMAP_LDAP_CA_FILE")
fi

fill() {
  local text
  text=$(<"$1")
  text=${text//@IMAP_LISTEN@/$listen}
  text=${text//@IMAP_TRUSTED_NETWORKS@/$trusted}
  text=${text//@IMAP_MAIL_ROOT@/$mail_root}
  text=${text//@IMAP_LDAP_URL@/$url}
  text=${text//@IMAP_LDAP_BASE_DN@/$base}
  printf '%s\n' "$text"
}

mkdir -p "$state/run" "$state/state" "$state/index" "$state/control"
# Users added later get their directories from Dovecot itself, as their uid: like /tmp.
chmod 1777 "$state/index" "$state/control"
fill "$templates/dovecot.conf.in" >"$state/dovecot.conf"
umask 077
{ fill "$templates/dovecot-ldap.conf.ext.in"; ((${#ldap_extra[@]} == 0)) || printf '%s\n' "${ldap_extra[@]}"; } >"$state/dovecot-ldap.conf.ext"
umask 022
install -m 0755 "$templates/postlogin.sh" "$state/postlogin.sh"
ln -sfn "$users" "$state/users"
# The users known now get their directories owned by their mail uid at once.
while IFS=: read -r owner _ uid gid _; do
  [[ $owner =~ ^[a-z0-9._-]+$ && $uid =~ ^[0-9]+$ && $gid =~ ^[0-9]+$ ]] || continue
  for dir in "$state/index/$owner" "$state/control/$owner"; do
    install -d -m 0700 -o "$uid" -g "$gid" "$dir"
  done
done <"$users"

if ! check=$(doveconf -c "$state/dovecot.conf" -n 2>&1 >/dev/null); then
  fail "Dovecot refuses the configuration made from these settings: $check"
fi
echo "semail-imap: LDAP $url (base $base), mail in $mail_root, users in $users, listening on $listen" >&2
exec /usr/sbin/dovecot -F -c "$state/dovecot.conf"
