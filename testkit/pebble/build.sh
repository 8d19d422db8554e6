#!/usr/bin/env bash
# Builds Pebble, Let's Encrypt's ACME test server, from its Go module into a cache outside the
# clone, for the ACME tests (tests/services/acme/), the same way deploy/pulumi/toolchain/build.sh
# builds the Pulumi CLI:
#
#   ${SEMAIL_PEBBLE_CACHE:-/var/cache/semail/pebble}/<version>/bin/pebble
#   .../go/mod, .../go/build             GOMODCACHE and GOCACHE, kept so a stopped run resumes
#
# A finished binary is never rebuilt. The last line on stdout is the binary's path; progress and
# the wall time go to stderr.
#
# Env: SEMAIL_PEBBLE_CACHE (cache root), SEMAIL_PEBBLE_VERSION (default below),
# GOPROXY (the module proxy; its `direct` fallback is dropped: these machines may reach the
# proxy only, never a module's source host).
set -euo pipefail

started=$SECONDS
trap 'echo "pebble: wall time $((SECONDS - started)) s" >&2' EXIT
die() { echo "pebble: $*" >&2; exit 1; }
note() { echo "pebble: $*" >&2; }

version="${SEMAIL_PEBBLE_VERSION:-v2.10.3}"
cache="${SEMAIL_PEBBLE_CACHE:-/var/cache/semail/pebble}"
dir="$cache/$version"
bin="$dir/bin"
mkdir -p "$bin"
if [ -x "$bin/pebble" ]; then
  note "pebble $version: built already"
  echo "$bin/pebble"
  exit 0
fi

PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "no go on PATH (Go >= 1.24 is needed)"

# One build per version at a time; a second run waits, then finds the binary made.
exec 9>"$dir/.lock"
flock -n 9 || { note "another build holds $dir/.lock: waiting"; flock 9; }
[ -x "$bin/pebble" ] && { echo "$bin/pebble"; exit 0; }

proxy="$(go env GOPROXY)"
proxy="${proxy%,direct}"
proxy="${proxy%|direct}"
[ "$proxy" != direct ] && [ "$proxy" != off ] || die "GOPROXY is $(go env GOPROXY): set it to the module proxy this machine reaches"
export GOPROXY="$proxy" GOPATH="$cache/go" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
export GOFLAGS="-p=${SEMAIL_PEBBLE_JOBS:-1} -mod=mod -modcacherw" GOWORK=off CGO_ENABLED=0 GOBIN="$dir/.gobin"

note "building pebble $version"
rm -rf "$GOBIN"
nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/letsencrypt/pebble/v2/cmd/pebble@$version" ||
  die "go install of github.com/letsencrypt/pebble/v2/cmd/pebble@$version failed"
mv -f "$GOBIN/pebble" "$bin/pebble"
rm -rf "$GOBIN"
note "done: $bin/pebble"
echo "$bin/pebble"
