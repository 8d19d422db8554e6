#!/bin/bash
# The user container's start: checks every setting (naming the wrong one), makes the owner's
# account with its home on the mail filesystem (/mail/home, kept when the container is
# replaced), this container's host key (once, in the /etc/ssh/keys volume), msmtp's and the
# readers' settings and the motd, starts installing again (in the background) the programs
# the owner had installed, then runs sshd in the foreground.
#   SEMAIL_OWNER       login name, the owner's uid in the directory (e.g. alice)
#   SEMAIL_UID/GID     the numeric owner of the mail filesystem mounted at /mail
#   SEMAIL_ADDRESS     the owner's mail address
#   SEMAIL_SUBMISSION  the outbound daemon, HOST:PORT
#   SEMAIL_SUBMISSION_STARTTLS  yes when outbound has a certificate (default no); it is
#                      checked against /etc/semail/submission-ca.pem when the deployment
#                      mounts one (a self-signed certificate), else against Debian's CAs
#   SEMAIL_APT_PROXY   optional apt proxy URL, e.g. http://semail-apt-proxy:3142
set -euo pipefail
fail() { echo "semail-user: $*" >&2; exit 2; }
keys_dir=/etc/semail/keys
keys=$keys_dir/authorized_keys
home=/mail/home

owner=${SEMAIL_OWNER:-}
# As config/users-list.ts's ownerProblem, narrowed to what a Linux login name can be.
[[ $owner =~ ^[a-z0-9]([a-z0-9._-]{0,30}[a-z0-9])?$ && $owner != *..* && ! $owner =~ ^[0-9]+$ ]] ||
  fail "SEMAIL_OWNER=\"$owner\" is not a login name: use a-z, 0-9, '.', '_', '-' (at most 32, starting and ending with a letter or digit, not all digits)"
for var in SEMAIL_UID SEMAIL_GID; do
  value=${!var:-}
  # config/mail-uid.ts gives each mailbox 200000 + 30 bits: far above Debian's own ranges.
  [[ $value =~ ^[0-9]{4,10}$ ]] && ((value >= 1000 && value <= 4294967294)) ||
    fail "$var=\"$value\" must be a number from 1000 to 4294967294 (the owner of the mail filesystem)"
done
[[ ${SEMAIL_ADDRESS:-} =~ ^[^@[:space:]\"]+@[a-z0-9.-]+$ ]] || fail "SEMAIL_ADDRESS=\"${SEMAIL_ADDRESS:-}\" is not a mail address (e.g. alice@semail.email)"
[[ ${SEMAIL_SUBMISSION:-} =~ ^([A-Za-z0-9.-]+):([0-9]{1,5})$ ]] && ((BASH_REMATCH[2] >= 1 && BASH_REMATCH[2] <= 65535)) ||
  fail "SEMAIL_SUBMISSION=\"${SEMAIL_SUBMISSION:-}\" must be HOST:PORT of the outbound daemon (e.g. semail-outbound:587)"
submit_host=${BASH_REMATCH[1]} submit_port=${BASH_REMATCH[2]}
starttls=${SEMAIL_SUBMISSION_STARTTLS:-no}
[[ $starttls == yes || $starttls == no ]] || fail "SEMAIL_SUBMISSION_STARTTLS=\"$starttls\" must be yes or no"
proxy=${SEMAIL_APT_PROXY:-}
[[ -z $proxy || $proxy =~ ^http://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$ ]] ||
  fail "SEMAIL_APT_PROXY=\"$proxy\" must be http://HOST[:PORT] (or unset)"

# The keys are the deployment's, root's alone to change (sshd also insists on it). It
# rewrites the file in place (a new file renamed over it, in a mounted directory), and
# sshd reads it at each login: a key change never restarts this container.
[[ -d $keys_dir ]] || fail "no $keys_dir: mount the directory that holds the owner's authorized_keys there (root-owned, read-only)"
for path in "$keys_dir" "$keys"; do
  [[ ! -e $path ]] || [[ $(stat -c %u "$path") == 0 && ! $(stat -c %A "$path") =~ ^.....w|^........w ]] ||
    fail "$path must be owned by root and writable by root alone"
done
# A mailbox made on the web form has no key until its owner adds one: the container runs
# (and keeps the mail reachable to the daemons) with nobody able to log in yet. sshd skips
# a line it cannot read, as it will for a later change: said, not fatal.
if [[ -s $keys ]]; then
  ssh-keygen -l -f "$keys" >/dev/null 2>&1 || echo "semail-user: $keys holds a line that is not a valid public key (sshd skips it)" >&2
else
  echo "semail-user: no key in $keys yet: nobody can log in until the owner adds one" >&2
fi
[[ -d /mail ]] || fail "/mail is not mounted: mount the owner's mail filesystem there"
mail_uid=$(stat -c %u /mail)
((mail_uid == SEMAIL_UID)) || fail "SEMAIL_UID=$SEMAIL_UID does not own /mail (its owner is uid $mail_uid)"

# The account, made once per container (a restart finds it as it was left).
group=$(getent group "$SEMAIL_GID" | cut -d: -f1 || true)
if [[ -z $group ]]; then
  getent group "$owner" >/dev/null && fail "SEMAIL_OWNER=$owner: a group of that name already exists with another gid"
  groupadd -g "$SEMAIL_GID" "$owner"
  group=$owner
fi
if ! existing=$(getent passwd "$owner"); then
  getent passwd "$SEMAIL_UID" >/dev/null && fail "SEMAIL_UID=$SEMAIL_UID is already used by $(getent passwd "$SEMAIL_UID" | cut -d: -f1)"
  # '*': no password to log in with, yet not a locked account (which sshd would refuse).
  # -l: no lastlog/faillog entry, which for a uid near 10^9 is a sparse file of hundreds of GB.
  # -M: the home is made below, on the mail filesystem.
  useradd -l -u "$SEMAIL_UID" -g "$group" -M -d "$home" -s /bin/bash -p '*' "$owner"
elif [[ $(cut -d: -f3 <<<"$existing") != "$SEMAIL_UID" ]]; then
  fail "SEMAIL_OWNER=$owner is an account of this image with uid $(cut -d: -f3 <<<"$existing"), not SEMAIL_UID=$SEMAIL_UID"
fi
# The home lives on the owner's filesystem, beside INBOX and mail/ (Dovecot and the inbound
# daemon see only those), so it outlives this container and counts in the mailbox's size.
# Made on the first start with /etc/skel; one the owner replaced by something else is moved
# aside, never deleted. Best effort: on a full filesystem sshd still lets the owner in (in /)
# to make room.
if [[ -L $home || ( -e $home && ! -d $home ) ]]; then
  aside=/mail/home.moved-$(date +%s)
  mv "$home" "$aside" && echo "semail-user: $home was not a directory; moved it to $aside" >&2
fi
if [[ ! -d $home ]]; then
  if install -d -m 0700 -o "$SEMAIL_UID" -g "$SEMAIL_GID" "$home"; then
    cp -rT /etc/skel "$home" && chown -R "$SEMAIL_UID:$SEMAIL_GID" "$home" || echo "semail-user: could not copy /etc/skel into $home" >&2
  else
    echo "semail-user: could not make $home (is /mail full?): the owner logs in without a home" >&2
  fi
fi

# The machine is the user's own: they may install anything.
printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$owner" >/etc/sudoers.d/semail-owner
chmod 440 /etc/sudoers.d/semail-owner

if [[ -n $proxy ]]; then
  printf 'Acquire::http::Proxy "%s";\n' "$proxy" >/etc/apt/apt.conf.d/01semail-proxy
else
  rm -f /etc/apt/apt.conf.d/01semail-proxy
fi

# Sending. msmtp picks a plain-text AUTH method only under TLS unless told: without
# STARTTLS it is named (outbound allows it only from the users' network).
tls=off auth=plain
[[ $starttls == yes ]] && tls=on auth=on
trust=/etc/ssl/certs/ca-certificates.crt
[[ -f /etc/semail/submission-ca.pem ]] && trust=/etc/semail/submission-ca.pem
cat >/etc/msmtprc <<CONF
# Written by the container's entrypoint. Your password: ~/.semail-password (mode 600).
defaults
syslog off
tls_trust_file $trust

account semail
host $submit_host
port $submit_port
tls $tls
tls_starttls on
auth $auth
user $owner
from $SEMAIL_ADDRESS
passwordeval /usr/local/bin/semail-password

account default : semail
CONF
chmod 644 /etc/msmtprc
printf 'set from="%s"\nset hostname="%s"\n' "$SEMAIL_ADDRESS" "${SEMAIL_ADDRESS##*@}" >/etc/semail/identity.rc

cat >/etc/motd <<MOTD

SEMail: $SEMAIL_ADDRESS
  Read:    neomutt (or mutt): /mail/INBOX, and your folders under /mail/mail
  Send:    put your SEMail password in ~/.semail-password once:
             (umask 077; cat >~/.semail-password)
           then send from neomutt, or: msmtp -t <message
  Install: sudo apt-get update && sudo apt-get install alpine   (another reader)
  Kept:    your home (~ is /mail/home, on your mail filesystem: it counts in your
           mailbox's size, and runs no programs: run a script with bash script.sh)
           and the list of what you installed with apt (~/.semail/packages), which
           a new container of yours installs again. A key change restarts nothing.

MOTD

if [[ ! -f /etc/ssh/keys/ssh_host_ed25519_key ]]; then
  ssh-keygen -q -t ed25519 -N '' -C "semail-$owner" -f /etc/ssh/keys/ssh_host_ed25519_key
  echo "semail-user: made the host key $(ssh-keygen -l -f /etc/ssh/keys/ssh_host_ed25519_key.pub | cut -d' ' -f2)" >&2
fi
# A new container (SEMail's image upgraded) installs again what the owner had installed; in
# the background, bounded, so sshd serves at once; the login says what came back and what not.
/usr/local/sbin/semail-packages restore </dev/null >/dev/null 2>&1 &
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -o "AllowUsers=$owner"
