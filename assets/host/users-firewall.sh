#!/usr/bin/env bash
# What a user's container on the VM may reach: the services ALLOWed (the outbound daemon's
# submission port, the apt proxy), nothing else on the users' bridge (no other user's
# container) and nothing on the VM itself. The VM's jump account still reaches each
# container's sshd (that traffic leaves the VM's own stack, it is not forwarded).
#
#   users-firewall.sh install --bridge NAME --allow IP:PORT [--allow IP:PORT ...] [--unit]
#   users-firewall.sh check --bridge NAME     prints the rules in force; exits 1 when they are gone
#   users-firewall.sh remove --bridge NAME    takes the rules and the unit away
#
# The rules live in the mangle table, which Docker never rewrites, in two chains of our
# own that each run replaces whole. Bridged traffic passes iptables only with br_netfilter,
# which this turns on. --unit also installs a systemd unit that runs the same line at boot,
# after Docker (the rules do not survive a reboot by themselves).
set -euo pipefail

die() { echo "users-firewall: $*" >&2; exit 1; }

action="${1:-}"
case "$action" in
  install | check | remove) shift ;;
  *) die "usage: users-firewall.sh install --bridge NAME --allow IP:PORT ... [--unit] | check --bridge NAME | remove --bridge NAME" ;;
esac
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

ipt() { iptables -w 10 -t mangle "$@"; }
fwd=SEMAIL-USERS-FWD in=SEMAIL-USERS-IN
hooks=("FORWARD -i $bridge -j $fwd" "FORWARD -o $bridge -j $fwd" "INPUT -i $bridge -j $in")

if [ "$action" = check ]; then
  # What a refresh compares: our two chains as they are, and whether each hook is in place.
  ipt -S "$fwd" && ipt -S "$in" || die "the chains $fwd and $in are gone"
  for h in "${hooks[@]}"; do
    # shellcheck disable=SC2086 # a hook is words
    if ipt -C $h 2>/dev/null; then echo "hook $h"; else echo "missing hook $h"; fi
  done
  exit 0
fi
if [ "$action" = remove ]; then
  for h in "${hooks[@]}"; do
    # shellcheck disable=SC2086
    while ipt -C $h 2>/dev/null; do ipt -D $h; done
  done
  for chain in "$fwd" "$in"; do ipt -F "$chain" 2>/dev/null && ipt -X "$chain" 2>/dev/null || true; done
  if [ -f /etc/systemd/system/semail-users-firewall.service ]; then
    systemctl disable semail-users-firewall.service 2>/dev/null || true
    rm -f /etc/systemd/system/semail-users-firewall.service
    systemctl daemon-reload 2>/dev/null || true
  fi
  echo "users-firewall: removed the rules for $bridge" >&2
  exit 0
fi
((${#allows[@]})) || die "at least one --allow IP:PORT is needed (the outbound daemon's submission)"
for allow in "${allows[@]}"; do
  [[ "$allow" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}:[0-9]{1,5}$ ]] || die "--allow \"$allow\" must be IPv4:PORT"
done

modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.bridge.bridge-nf-call-iptables=1 || die "cannot make bridged traffic pass iptables (net.bridge.bridge-nf-call-iptables): one container could reach another"

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
