#!/bin/bash
# The apt proxy has no settings: it readies its cache volume (a bind mount may arrive
# root-owned) and runs apt-cacher-ng in the foreground as its own user.
set -euo pipefail
for dir in /var/cache/apt-cacher-ng /var/log/apt-cacher-ng /run/apt-cacher-ng; do
  mkdir -p "$dir"
  chown apt-cacher-ng:apt-cacher-ng "$dir"
done
exec setpriv --reuid apt-cacher-ng --regid apt-cacher-ng --init-groups \
  /usr/sbin/apt-cacher-ng -c /etc/apt-cacher-ng
