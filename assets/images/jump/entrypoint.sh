#!/bin/bash
# The jump container's start: this container's host key (once, in the /etc/ssh/keys volume),
# then the jump account exactly as on the VM, then sshd in the foreground.
#   SEMAIL_JUMP_SETUP   the VM's setup command (jumpSetupCommand in components/host-scripts.ts)
#   SEMAIL_JUMP_STANZA  its stdin: the sshd stanza (jumpSshdStanza)
set -euo pipefail
fail() { echo "semail-jump: $*" >&2; exit 2; }
setup=${SEMAIL_JUMP_SETUP:-}
[[ $setup == "bash /usr/local/lib/semail/jump-host.sh setup "* ]] ||
  fail "SEMAIL_JUMP_SETUP=\"$setup\" must be the jump-host.sh setup command (bash /usr/local/lib/semail/jump-host.sh setup ...)"
[[ ${SEMAIL_JUMP_STANZA:-} == *"Match User "* ]] || fail "SEMAIL_JUMP_STANZA must hold the jump account's sshd stanza (Match User ...)"

if [[ ! -f /etc/ssh/keys/ssh_host_ed25519_key ]]; then
  ssh-keygen -q -t ed25519 -N '' -C semail-jump -f /etc/ssh/keys/ssh_host_ed25519_key
  echo "semail-jump: made the host key $(ssh-keygen -l -f /etc/ssh/keys/ssh_host_ed25519_key.pub | cut -d' ' -f2)" >&2
fi
# No sshd runs yet: nothing to reload (the VM's sshd is reloaded instead).
eval "$setup --no-reload" <<<"$SEMAIL_JUMP_STANZA"
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
