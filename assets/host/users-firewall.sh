#!/usr/bin/env bash
# What a user's container on the VM may reach: the services ALLOWed (the outbound daemon's
# submission port, the apt proxy), nothing else on the users' bridge (no other user's
# container) and nothing on the VM itself. The VM's jump account still reaches each
# container's sshd (that traffic leaves the VM's own stack, it is not forwarded).
#
#   users-firewall.sh install --bridge NAME --allow IP:PORT [--allow IP:PORT ...] [--unit]
#
# The rules live in the mangle table, which Docker never rewrites, in two chains of our
# own that each run replaces whole. Bridged traffic passes iptables only with br_netfilter,
# which this turns on. --unit also installs a systemd unit that runs the same line at boot,
# after Docker (the rules do not survive a reboot by themselves).
set -euo pipefail

die() { echo "users-firewall: $*" >&2; exit 1; }

action="${1:-}"
[ "$action" = install ] || die "usage: users-firewall.sh install --bridge NAME --allow IP:PORT ... [--unit]"
shift
bridge="" allows=() unit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bridge) bridge="${2:-}"; shift 2 ;;
    --allow) allows+=("${2:-}"); shift 2 ;;
    --unit) unit=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done
[[ "$bridge" =~ ^[a-z0-9][a-z0-9_-]{0,14}$ ]] || die "--bridge \"$bridge\" is not an interface name (a-z, 0-9, '_', '-'; at most 15)"
((${#allows[@]})) || die "at least one --allow IP:PORT is needed (the outbound daemon's submission)"
for allow in "${allows[@]}"; do
  [[ "$allow" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}:[0-9]{1,5}$ ]] || die "--allow \"$allow\" must be IPv4:PORT"
done

modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.bridge.bridge-nf-call-iptables=1 || die "cannot make bridged traffic pass iptables (net.bridge.bridge-nf-call-iptables): one container could reach another"

ipt() { iptables -w 10 -t mangle "$@"; }
fwd=SEMAIL-USERS-FWD in=SEMAIL-USERS-IN
for chain in "$fwd" "$in"; do
  ipt -N "$chain" 2>/dev/null || ipt -F "$chain"
done
ipt -A "$fwd" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
for allow in "${allows[@]}"; do
  ipt -A "$fwd" -i "$bridge" -d "${allow%:*}" -p tcp --dport "${allow#*:}" -m conntrack --ctstate NEW -j RETURN
done
ipt -A "$fwd" -j DROP
ipt -A "$in" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
ipt -A "$in" -j DROP
# The hooks once each, first in their chain.
hook() { ipt -C "$@" 2>/dev/null || ipt -I "${@:1:1}" 1 "${@:2}"; }
hook FORWARD -i "$bridge" -j "$fwd"
hook FORWARD -o "$bridge" -j "$fwd"
hook INPUT -i "$bridge" -j "$in"

if [ "$unit" = 1 ]; then
  # Every value is checked above (no spaces, no quotes), so the line needs no quoting.
  line="bash $(readlink -f "$0") install --bridge $bridge"
  for allow in "${allows[@]}"; do line+=" --allow $allow"; done
  cat > /etc/systemd/system/semail-users-firewall.service <<UNIT
[Unit]
Description=SEMail: what the users' containers may reach
After=docker.service
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/bin/env ${line}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload 2>/dev/null && systemctl enable semail-users-firewall.service 2>/dev/null || echo "users-firewall: installed the unit; enable it with: systemctl enable semail-users-firewall" >&2
fi
echo "users-firewall: $bridge may reach only ${allows[*]}" >&2
