#!/bin/bash
# Healthy when apt-cacher-ng serves its report page (HTTP 200) on its port.
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/3142
printf 'GET /acng-report.html HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 4 status <&3
[[ $status == "HTTP/1."[01]" 200"* ]] || { echo "apt-cacher-ng answered: $status" >&2; exit 1; }
