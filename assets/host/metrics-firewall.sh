#!/usr/bin/env bash
# Who may reach the daemons' metrics ports on the VM's own addresses: the networks FROM
# (semail:metricsScrapeFrom, a Prometheus elsewhere), nobody else. Loopback is not filtered
# (a Prometheus on the VM). Only installed when the stack publishes the ports beyond loopback.
#
#   metrics-firewall.sh install --port PORT [--port PORT ...] --from CIDR [--from CIDR ...] [--unit]
#   metrics-firewall.sh check      prints the rules in force; exits 1 when they are gone
#   metrics-firewall.sh remove     takes the rules and the unit away
#
# In the mangle table's PREROUTING, before Docker's DNAT of a published port (Docker never
# rewrites mangle), in a chain of our own that each run replaces whole, for IPv4 and IPv6.
# --unit also installs a systemd unit that runs the same line at boot (the rules do not
# survive a reboot by themselves).
set -euo pipefail

die() { echo "metrics-firewall: $*" >&2; exit 1; }

action="${1:-}"
case "$action" in
  install | check | remove) shift ;;
  *) die "usage: metrics-firewall.sh install --port PORT ... --from CIDR ... [--unit] | check | remove" ;;
esac
ports=() froms=() unit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) ports+=("${2:-}"); shift 2 ;;
    --from) froms+=("${2:-}"); shift 2 ;;
    --unit) unit=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done

chain=SEMAIL-METRICS
unit_file=/etc/systemd/system/semail-metrics-firewall.service
# Our hook: whatever jumps to the chain from PREROUTING (its ports may have changed since).
hooks() { "$1" -w 10 -t mangle -S PREROUTING | grep -e "-j $chain\$" | sed 's/^-A /-D /' || true; }
unhook() {
  local rule
  while read -r rule; do
    # shellcheck disable=SC2086 # a rule is words, as iptables -S printed them
    [ -n "$rule" ] && "$1" -w 10 -t mangle $rule
  done < <(hooks "$1")
}

if [ "$action" = check ]; then
  for ipt in iptables ip6tables; do
    "$ipt" -w 10 -t mangle -S "$chain" || die "the chain $chain ($ipt) is gone"
    [ -n "$(hooks "$ipt")" ] && echo "$ipt hooked" || echo "$ipt missing hook"
  done
  exit 0
fi
if [ "$action" = remove ]; then
  for ipt in iptables ip6tables; do
    unhook "$ipt"
    "$ipt" -w 10 -t mangle -F "$chain" 2>/dev/null && "$ipt" -w 10 -t mangle -X "$chain" 2>/dev/null || true
  done
  if [ -f "$unit_file" ]; then
    systemctl disable semail-metrics-firewall.service 2>/dev/null || true
    rm -f "$unit_file"
    systemctl daemon-reload 2>/dev/null || true
  fi
  echo "metrics-firewall: removed the rules" >&2
  exit 0
fi
((${#ports[@]})) || die "at least one --port is needed (a daemon's metrics port)"
((${#froms[@]})) || die "at least one --from CIDR is needed (semail:metricsScrapeFrom)"
for port in "${ports[@]}"; do
  [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] && ((port <= 65535)) || die "--port \"$port\" is not a port number"
done
for from in "${froms[@]}"; do
  [[ "$from" =~ ^[0-9a-fA-F:.]+/[0-9]{1,3}$ ]] || die "--from \"$from\" must be ADDR/PREFIX"
done
list=$(IFS=,; echo "${ports[*]}")

for ipt in iptables ip6tables; do
  "$ipt" -w 10 -t mangle -N "$chain" 2>/dev/null || "$ipt" -w 10 -t mangle -F "$chain"
  for from in "${froms[@]}"; do
    # Each family takes its own networks only (an IPv6 one has a colon).
    if [[ "$from" == *:* ]]; then [ "$ipt" = ip6tables ] || continue; else [ "$ipt" = iptables ] || continue; fi
    "$ipt" -w 10 -t mangle -A "$chain" -s "$from" -j RETURN
  done
  "$ipt" -w 10 -t mangle -A "$chain" -j DROP
  # The ports may have changed: the old hook goes, the new one comes first in PREROUTING.
  unhook "$ipt"
  "$ipt" -w 10 -t mangle -I PREROUTING 1 ! -i lo -p tcp -m multiport --dports "$list" \
    -m addrtype --dst-type LOCAL -j "$chain"
done

if [ "$unit" = 1 ]; then
  # Every value is checked above (no spaces, no quotes), so the line needs no quoting.
  line="bash $(readlink -f "$0") install"
  for port in "${ports[@]}"; do line+=" --port $port"; done
  for from in "${froms[@]}"; do line+=" --from $from"; done
  cat > "$unit_file" <<UNIT
[Unit]
Description=SEMail: who may scrape the daemons' metrics
After=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/bin/env ${line}
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload 2>/dev/null && systemctl enable semail-metrics-firewall.service 2>/dev/null || echo "metrics-firewall: installed the unit; enable it with: systemctl enable semail-metrics-firewall" >&2
fi
echo "metrics-firewall: ports $list reachable only from ${froms[*]}" >&2
