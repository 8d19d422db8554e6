#!/usr/bin/env bash
# Installs the managed zone (read from stdin) for named on the VM, and loads it.
#
#   install-zone.sh DOMAIN [--zone-dir DIR] [--named-conf FILE] [--stanza-b64 TEXT] [--rndc-conf FILE] [--no-rndc]
#
# The zone's SOA serial sits on a line ending in "; serial". When the zone differs from
# the installed one (serial aside), the serial becomes max(installed + 1, YYYYMMDD00),
# so it increases on every change and an unchanged zone is not touched. The zone is
# checked with named-checkzone before it replaces the installed file. After `rndc reload` it
# waits (bounded) until named serves the new serial: the ACME manager's DNS-01 records must be
# served before the CA is asked to look. --rndc-conf gives rndc a configuration (server, port,
# key) other than its default; `semail cert` in its container passes one.
set -euo pipefail

die() { echo "install-zone: $*" >&2; exit 1; }

domain="${1:-}"
[[ "$domain" =~ ^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$ ]] || die "usage: install-zone.sh DOMAIN [--zone-dir DIR] [--named-conf FILE] [--stanza-b64 TEXT] [--rndc-conf FILE] [--no-rndc]"
shift
zone_dir=/etc/bind/semail named_conf=/etc/bind/named.conf.local stanza_b64="" rndc=1 rndc_conf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --zone-dir) zone_dir="${2:-}"; shift 2 ;;
    --named-conf) named_conf="${2:-}"; shift 2 ;;
    --stanza-b64) stanza_b64="${2:-}"; shift 2 ;;
    --rndc-conf) rndc_conf="${2:-}"; shift 2 ;;
    --no-rndc) rndc=0; shift ;;
    *) die "unknown option $1" ;;
  esac
done

zone_file="$zone_dir/db.$domain"
stanza_file="$zone_dir/named.conf.semail"
mkdir -p "$zone_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/zone"
grep -q '; serial$' "$work/zone" || die "stdin is not a SEMail zone (no line ending in '; serial')"

strip_serial() { grep -v '; serial$' "$1"; }
serial_of() { awk '/; serial$/ { print $1; exit }' "$1"; }

zone_changed=0
if [ ! -f "$zone_file" ] || ! cmp -s <(strip_serial "$zone_file") <(strip_serial "$work/zone"); then
  old=0
  if [ -f "$zone_file" ]; then old="$(serial_of "$zone_file")"; fi
  [[ "$old" =~ ^[0-9]+$ ]] || old=0
  today="$(date -u +%Y%m%d)00"
  serial=$(( old + 1 > today ? old + 1 : today ))
  sed -i -E "s/^( *)[0-9]+ ; serial$/\\1$serial ; serial/" "$work/zone"
  named-checkzone -q "$domain" "$work/zone" || { named-checkzone "$domain" "$work/zone" >&2 || true; die "the new zone for $domain does not pass named-checkzone; the installed zone is unchanged"; }
  install -m 0644 "$work/zone" "$zone_file.new"
  mv -f "$zone_file.new" "$zone_file"
  zone_changed=1
  echo "install-zone: $domain serial $serial"
fi

conf_changed=0
if [ -n "$stanza_b64" ]; then
  printf '%s' "$stanza_b64" | base64 -d > "$work/stanza"
  if ! cmp -s "$work/stanza" "$stanza_file"; then
    install -m 0644 "$work/stanza" "$stanza_file"
    conf_changed=1
  fi
  include="include \"$stanza_file\";"
  touch "$named_conf"
  if ! grep -qxF "$include" "$named_conf"; then
    echo "$include" >> "$named_conf"
    conf_changed=1
  fi
fi

rndc_() { if [ -n "$rndc_conf" ]; then rndc -c "$rndc_conf" "$@"; else rndc "$@"; fi; }
if [ "$rndc" = 1 ]; then
  if [ "$conf_changed" = 1 ]; then rndc_ reconfig; fi
  if [ "$zone_changed" = 1 ]; then
    rndc_ reload "$domain"
    # named loads a zone after answering "zone reload queued": wait for the new serial (10 s at most).
    deadline=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$deadline" ]; do
      status="$(rndc_ zonestatus "$domain" 2>/dev/null || true)"
      if grep -qx "serial: $serial" <<<"$status"; then exit 0; fi
      sleep 0.2
    done
    die "named does not serve serial $serial of $domain after rndc reload (see named's log)"
  fi
fi
