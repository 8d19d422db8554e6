#!/bin/bash
# Checks the settings, writes Roundcube's configuration from the template (rendered by
# provisioning/webmail/config.ts), makes the des_key once, and runs php -S as www-data.
# Settings:
#   WEBMAIL_IMAP              HOST:PORT of Dovecot's IMAP with STARTTLS (required), e.g. semail-imap:143
#   WEBMAIL_SMTP              HOST:PORT of the outbound daemon's submission with STARTTLS (required), e.g. semail-outbound:587
#   WEBMAIL_CA_FILE           CA (or the certificate itself) both are checked against (default /etc/semail/tls/ca.pem)
#   WEBMAIL_IMAP_TLS_NAME     name in Dovecot's certificate (default: the host of WEBMAIL_IMAP)
#   WEBMAIL_SMTP_TLS_NAME     name in the outbound daemon's certificate (default: the host of WEBMAIL_SMTP)
#   WEBMAIL_SESSION_MINUTES   idle session lifetime (default 30)
#   WEBMAIL_BEHIND_TLS        yes (default): users reach it over HTTPS through a TLS proxy; no: plain HTTP
#   WEBMAIL_WORKERS           PHP worker processes (default 2)
# Mounts: /etc/semail/webmail holding `addresses` (SEMail's renderAddressFile; mount the
# directory, so a rewrite by rename reaches the container), the CA file.
set -euo pipefail
fail() { echo "semail-webmail: $*" >&2; exit 2; }

template=/usr/local/share/semail-webmail/config.inc.php.in
state=/var/lib/semail/webmail
addresses=/etc/semail/webmail/addresses
endpoint='^[A-Za-z0-9.-]+:[0-9]{1,5}$'
name='^[A-Za-z0-9.-]+$'

imap=${WEBMAIL_IMAP:-}
[[ -n $imap ]] || fail "WEBMAIL_IMAP is not set (e.g. WEBMAIL_IMAP=semail-imap:143, Dovecot's IMAP with STARTTLS)"
[[ $imap =~ $endpoint ]] || fail "WEBMAIL_IMAP=\"$imap\" must be HOST:PORT such as semail-imap:143"
smtp=${WEBMAIL_SMTP:-}
[[ -n $smtp ]] || fail "WEBMAIL_SMTP is not set (e.g. WEBMAIL_SMTP=semail-outbound:587, the outbound daemon's submission)"
[[ $smtp =~ $endpoint ]] || fail "WEBMAIL_SMTP=\"$smtp\" must be HOST:PORT such as semail-outbound:587"
imap_name=${WEBMAIL_IMAP_TLS_NAME:-${imap%:*}}
[[ $imap_name =~ $name ]] || fail "WEBMAIL_IMAP_TLS_NAME=\"$imap_name\" is not a host name"
smtp_name=${WEBMAIL_SMTP_TLS_NAME:-${smtp%:*}}
[[ $smtp_name =~ $name ]] || fail "WEBMAIL_SMTP_TLS_NAME=\"$smtp_name\" is not a host name"
ca=${WEBMAIL_CA_FILE:-/etc/semail/tls/ca.pem}
[[ $ca =~ ^/[A-Za-z0-9._/-]+$ ]] || fail "WEBMAIL_CA_FILE=\"$ca\" must be an absolute path of letters, digits and . _ - /"
[[ -r $ca ]] || fail "WEBMAIL_CA_FILE=$ca cannot be read: mount the CA (or the certificate) of Dovecot and the outbound daemon there"
minutes=${WEBMAIL_SESSION_MINUTES:-30}
[[ $minutes =~ ^[0-9]{1,4}$ ]] && ((minutes >= 1 && minutes <= 1440)) || fail "WEBMAIL_SESSION_MINUTES=\"$minutes\" must be minutes from 1 to 1440"
case ${WEBMAIL_BEHIND_TLS:-yes} in
  yes) https=true ;;
  no) https=false ;;
  *) fail "WEBMAIL_BEHIND_TLS=\"$WEBMAIL_BEHIND_TLS\" must be yes or no" ;;
esac
workers=${WEBMAIL_WORKERS:-2}
[[ $workers =~ ^[0-9]{1,2}$ ]] && ((workers >= 1 && workers <= 16)) || fail "WEBMAIL_WORKERS=\"$workers\" must be 1 to 16"
[[ -r $addresses ]] || fail "$addresses cannot be read: mount the directory holding the address file SEMail renders at /etc/semail/webmail"

install -d -m 0755 "$state" "$state/config"
install -d -m 0700 -o www-data -g www-data "$state/db" "$state/temp"
if [[ ! -s $state/des_key ]]; then
  (umask 027; head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$state/des_key")
fi
chown root:www-data "$state/des_key"
chmod 0640 "$state/des_key"
cp /etc/roundcube/defaults.inc.php /etc/roundcube/mimetypes.php "$state/config/"
text=$(<"$template")
text=${text//@WEBMAIL_IMAP@/$imap}
text=${text//@WEBMAIL_IMAP_TLS_NAME@/$imap_name}
text=${text//@WEBMAIL_SMTP@/$smtp}
text=${text//@WEBMAIL_SMTP_TLS_NAME@/$smtp_name}
text=${text//@WEBMAIL_CA_FILE@/$ca}
text=${text//@WEBMAIL_SESSION_MINUTES@/$minutes}
text=${text//@WEBMAIL_BEHIND_TLS@/$https}
(umask 027; printf '%s\n' "$text" >"$state/config/config.inc.php")
chown root:www-data "$state/config/config.inc.php"
check=$(php -l "$state/config/config.inc.php" 2>&1) || fail "PHP refuses the configuration made from these settings: $check"
echo "semail-webmail: IMAP $imap, submission $smtp (CA $ca), $workers workers on :8080, HTTPS proxy in front: ${WEBMAIL_BEHIND_TLS:-yes}" >&2
cd /var/lib/roundcube/public_html
export ROUNDCUBE_CONFIG_DIR=$state/config PHP_CLI_SERVER_WORKERS=$workers
# Debian's php.ini turns session garbage collection off (its cron job cleans instead): one
# request in 100 removes expired sessions and temp files (provisioning/webmail's PHP_FLAGS).
exec setpriv --reuid=www-data --regid=www-data --init-groups php -d session.gc_probability=1 -d session.gc_divisor=100 -S 0.0.0.0:8080 -t /var/lib/roundcube/public_html
