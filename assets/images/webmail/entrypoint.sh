#!/bin/bash
# Checks the settings, writes Roundcube's, nginx's and php-fpm's configurations from the
# templates (rendered by services/webmail), makes the des_key once, and runs php-fpm
# and nginx, ending (for the restart policy) when either ends. SIGHUP reloads both: send it
# after the certificate is renewed (docker kill -s HUP semail-webmail).
# Settings:
#   WEBMAIL_IMAP              HOST:PORT of Dovecot's IMAPS (required), e.g. semail-imap:993
#   WEBMAIL_SMTP              HOST:PORT of the outbound daemon's submission with STARTTLS (required), e.g. semail-outbound:587
#   WEBMAIL_CA_FILE           certificate (or CA) Dovecot's and the submission's are checked against, besides
#                             the public CAs (default /etc/semail/tls/cert.pem: the one served here)
#   WEBMAIL_IMAP_TLS_NAME     name in Dovecot's certificate (default: the host of WEBMAIL_IMAP)
#   WEBMAIL_SMTP_TLS_NAME     name in the outbound daemon's certificate (default: the host of WEBMAIL_SMTP)
#   WEBMAIL_SESSION_MINUTES   idle session lifetime (default 30)
#   WEBMAIL_WORKERS           at most this many PHP workers (default 2)
# Mounts: /etc/semail/tls/{cert,key}.pem (served on 443), /etc/semail/webmail holding
# `addresses` (SEMail's renderAddressFile; mount the directory, so a rewrite by rename
# reaches the container) and optionally `autoconfig/<domain>.xml` (Mozilla autoconfig, one
# document per mail domain, served on 80 and 443; none: 404), optionally /var/lib/semail/acme
# (certbot --webroot's challenges, served on 80).
set -euo pipefail
fail() { echo "semail-webmail: $*" >&2; exit 2; }

templates=/usr/local/share/semail-webmail
state=/var/lib/semail/webmail
run=/run/semail-webmail
addresses=/etc/semail/webmail/addresses
cert=/etc/semail/tls/cert.pem
key=/etc/semail/tls/key.pem
endpoint='^[A-Za-z0-9.-]+:[0-9]{1,5}$'
name='^[A-Za-z0-9.-]+$'

imap=${WEBMAIL_IMAP:-}
[[ -n $imap ]] || fail "WEBMAIL_IMAP is not set (e.g. WEBMAIL_IMAP=semail-imap:993, Dovecot's IMAPS)"
[[ $imap =~ $endpoint ]] || fail "WEBMAIL_IMAP=\"$imap\" must be HOST:PORT such as semail-imap:993"
smtp=${WEBMAIL_SMTP:-}
[[ -n $smtp ]] || fail "WEBMAIL_SMTP is not set (e.g. WEBMAIL_SMTP=semail-outbound:587, the outbound daemon's submission)"
[[ $smtp =~ $endpoint ]] || fail "WEBMAIL_SMTP=\"$smtp\" must be HOST:PORT such as semail-outbound:587"
imap_name=${WEBMAIL_IMAP_TLS_NAME:-${imap%:*}}
[[ $imap_name =~ $name ]] || fail "WEBMAIL_IMAP_TLS_NAME=\"$imap_name\" is not a host name"
smtp_name=${WEBMAIL_SMTP_TLS_NAME:-${smtp%:*}}
[[ $smtp_name =~ $name ]] || fail "WEBMAIL_SMTP_TLS_NAME=\"$smtp_name\" is not a host name"
for pem in "$cert" "$key"; do
  [[ -r $pem ]] || fail "$pem cannot be read: mount the certificate and key to serve at /etc/semail/tls (cert.pem, key.pem)"
done
ca=${WEBMAIL_CA_FILE:-$cert}
[[ $ca =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "WEBMAIL_CA_FILE=\"$ca\" must be an absolute path of letters, digits and . _ - /"
[[ -r $ca ]] || fail "WEBMAIL_CA_FILE=$ca cannot be read: mount the certificate (or CA) of Dovecot and the outbound daemon there"
minutes=${WEBMAIL_SESSION_MINUTES:-30}
[[ $minutes =~ ^[0-9]{1,4}$ ]] && ((minutes >= 1 && minutes <= 1440)) || fail "WEBMAIL_SESSION_MINUTES=\"$minutes\" must be minutes from 1 to 1440"
workers=${WEBMAIL_WORKERS:-2}
[[ $workers =~ ^[0-9]{1,2}$ ]] && ((workers >= 1 && workers <= 16)) || fail "WEBMAIL_WORKERS=\"$workers\" must be 1 to 16"
[[ -r $addresses ]] || fail "$addresses cannot be read: mount the directory holding the address file SEMail renders at /etc/semail/webmail"

install -d -m 0755 "$state" "$state/config" "$run"
install -d -m 0700 -o www-data -g www-data "$state/db" "$state/temp"
if [[ ! -s $state/des_key ]]; then
  (umask 027; head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$state/des_key")
fi
chown root:www-data "$state/des_key"
chmod 0640 "$state/des_key"
# The public CAs and the deployment's own certificate: a self-signed one is trusted as
# itself, a public one through its chain. Remade at each start (the certificate is renewed).
cat /etc/ssl/certs/ca-certificates.crt "$ca" >"$run/peers-ca.pem"
chmod 0644 "$run/peers-ca.pem"
cp /etc/roundcube/defaults.inc.php /etc/roundcube/mimetypes.php "$state/config/"
text=$(<"$templates/config.inc.php.in")
text=${text//@WEBMAIL_IMAP@/$imap}
text=${text//@WEBMAIL_IMAP_TLS_NAME@/$imap_name}
text=${text//@WEBMAIL_SMTP@/$smtp}
text=${text//@WEBMAIL_SMTP_TLS_NAME@/$smtp_name}
text=${text//@WEBMAIL_CA_FILE@/$run/peers-ca.pem}
text=${text//@WEBMAIL_SESSION_MINUTES@/$minutes}
(umask 027; printf '%s\n' "$text" >"$state/config/config.inc.php")
chown root:www-data "$state/config/config.inc.php"
check=$(php -l "$state/config/config.inc.php" 2>&1) || fail "PHP refuses the configuration made from these settings: $check"
text=$(<"$templates/php-fpm.conf.in")
printf '%s\n' "${text//@WEBMAIL_WORKERS@/$workers}" >"$run/php-fpm.conf"
if [[ -s /proc/net/if_inet6 ]]; then
  cp "$templates/nginx.conf.in" "$run/nginx.conf"
else
  grep -v 'listen \[::\]' "$templates/nginx.conf.in" >"$run/nginx.conf"
fi
check=$(nginx -t -q -c "$run/nginx.conf" 2>&1) || fail "nginx refuses the certificate or its configuration: $check"
check=$(php-fpm8.2 -t -y "$run/php-fpm.conf" 2>&1) || fail "php-fpm refuses its configuration: $check"
/usr/local/sbin/semail-webmail-identities || echo "semail-webmail: the identities could not be brought in line with the address file" >&2

echo "semail-webmail: HTTPS on 443 (80 redirects but for autoconfig and ACME), IMAPS $imap, submission $smtp (checked as $imap_name, $smtp_name), at most $workers PHP workers" >&2
php-fpm8.2 -F -y "$run/php-fpm.conf" &
fpm=$!
nginx -c "$run/nginx.conf" -g 'daemon off;' &
web=$!
stopping=0
trap 'stopping=1; kill -TERM "$fpm" "$web" 2>/dev/null || true' TERM INT
trap 'kill -HUP "$web"; kill -USR2 "$fpm"' HUP
# A trapped signal also ends the wait: go on waiting while both run.
while kill -0 "$fpm" 2>/dev/null && kill -0 "$web" 2>/dev/null; do
  wait -n "$fpm" "$web" || true
done
kill -TERM "$fpm" "$web" 2>/dev/null || true
wait || true
# Stopped on purpose, or one of the two ended by itself (the restart policy brings both back).
exit $((stopping ? 0 : 1))
