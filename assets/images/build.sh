#!/usr/bin/env bash
# Builds SEMail's images on the Debian base (base.sh), each tagged semail/<role>:
#   assets/images/build.sh [--prefix P] [ROLE...]   roles: daemons directory user apt-proxy imap webmail
# The daemons image is built from the repository root (it bundles the checkout, after
# `npm ci`); the others from their own folder. Build steps use the host's network, so
# a Docker engine without a default bridge (as the tests start one) can still apt-get.
# Prints each step's time: cold builds are what CI pays.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=semail/
if [[ ${1:-} == --prefix ]]; then prefix=$2; shift 2; fi
roles=("$@")
((${#roles[@]})) || roles=(daemons directory user apt-proxy imap webmail)

timed() {
  local what=$1 start=$SECONDS
  shift
  "$@"
  echo "build.sh: $what in $((SECONDS - start)) s" >&2
}

timed "base" "$here/base.sh"
for role in "${roles[@]}"; do
  [[ -f $here/$role/Dockerfile ]] || { echo "build.sh: no image named $role (see $here)" >&2; exit 2; }
  context=$here/$role
  [[ $role == daemons ]] && context=$root
  timed "$prefix$role" docker build -q --network host -t "$prefix$role" -f "$here/$role/Dockerfile" "$context" >/dev/null
done
