#!/bin/bash
# The daemons' HEALTHCHECK. inbound and outbound are healthy once they listen (a TCP
# socket in LISTEN state in the container's network namespace, which only the daemon
# uses); looking in /proc opens no SMTP session, so the check leaves no log line.
# `queue` is a one-shot command (list, flush, remove), nothing to watch.
set -euo pipefail
command=$(tr '\0' '\n' </proc/1/cmdline | grep -m1 -xE 'inbound|outbound|queue' || true)
[[ $command == queue ]] && exit 0
# Column 4 is the socket state; 0A is LISTEN.
if awk 'FNR > 1 && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6; then
  exit 0
fi
echo "${command:-the daemon} is not listening on any TCP port yet" >&2
exit 1
