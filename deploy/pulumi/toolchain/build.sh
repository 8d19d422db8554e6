#!/usr/bin/env bash
# Builds the Pulumi CLI that `semail deploy` and the tests run, from its Go module, at the
# version package-lock.json installs (@pulumi/pulumi), into a cache outside the clone:
#
#   ${SEMAIL_TOOLCHAIN_CACHE:-/var/cache/semail/pulumi-toolchain}/pulumi-<version>/bin
#       pulumi                           the CLI
#       pulumi-resource-pulumi-nodejs    runs the dynamic-provider plugin the npm package ships (from NODE_PATH)
#   .../go/mod, .../go/build             GOMODCACHE and GOCACHE, kept so a stopped run resumes
#
# That is all the engine needs: `semail deploy` runs the program inline through the
# Automation API (no language host), and the resource providers come from `pulumi plugin
# install` where a registry serves them, or from the test rig's stand-ins (testkit/rig/).
# A finished CLI is never rebuilt. Time on the 2-core machine: about 6 to 8 min cold (1.4 GB
# of modules, 1.6 GB of build cache), 1 s warm. The last line on stdout is the bin dir;
# progress and the wall time go to stderr.
#
# Env: SEMAIL_TOOLCHAIN_CACHE (cache root), SEMAIL_TOOLCHAIN_JOBS (go build -p, default 1),
# GOPROXY (the module proxy; its `direct` fallback is dropped: these machines may reach the
# proxy only, never a module's source host).
set -euo pipefail

started=$SECONDS
trap 'echo "toolchain: wall time $((SECONDS - started)) s" >&2' EXIT
die() { echo "toolchain: $*" >&2; exit 1; }
note() { echo "toolchain: $*" >&2; }

repo="$(cd "$(dirname "$(readlink -f "$0")")/../../.." && pwd)"
lock="$repo/package-lock.json"
[ -f "$lock" ] || die "no $lock: this script reads the version from the clone it lives in"
PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "no go on PATH (Go >= 1.25 is needed)"
command -v node >/dev/null || die "no node on PATH (it reads package-lock.json)"

pulumi_v="$(node -e '
  const [lock] = process.argv.slice(1);
  const p = require(lock).packages["node_modules/@pulumi/pulumi"];
  if (!p || !p.version) { console.error(`@pulumi/pulumi is not in ${lock}: run npm install`); process.exit(1); }
  console.log(p.version);' "$lock")"

cache="${SEMAIL_TOOLCHAIN_CACHE:-/var/cache/semail/pulumi-toolchain}"
dir="$cache/pulumi-$pulumi_v"
bin="$dir/bin"
mkdir -p "$bin" "$dir/src"

# The dynamic-provider plugin ships in the npm package; beside the CLI the engine finds it first.
# Not a link into this clone: the cache outlives clones (a link to a removed one broke every
# other clone's engine). The plugin finds the package the way the npm one does, by require,
# from NODE_PATH, which the engine sets to the project's node_modules.
plugin="$bin/pulumi-resource-pulumi-nodejs"
wrapper='#!/bin/sh
# Written by deploy/pulumi/toolchain/build.sh: the npm package'"'"'s dynamic-provider plugin, found from NODE_PATH.
script=$(node -e "console.log(require.resolve(\"@pulumi/pulumi/cmd/dynamic-provider\"))") || exit 1
exec node "$script" "$@"'
if [ -L "$plugin" ] || [ "$(cat "$plugin" 2>/dev/null)" != "$wrapper" ]; then
  rm -f "$plugin"
  printf '%s\n' "$wrapper" > "$plugin.tmp.$$" && chmod 0755 "$plugin.tmp.$$" && mv "$plugin.tmp.$$" "$plugin"
fi
if [ -x "$bin/pulumi" ]; then
  note "pulumi $pulumi_v: built already"
  echo "$bin"
  exit 0
fi

# One build per version at a time; a second run waits, then finds the CLI made.
exec 9>"$dir/.lock"
flock -n 9 || { note "another build holds $dir/.lock: waiting"; flock 9; }
[ -x "$bin/pulumi" ] && { echo "$bin"; exit 0; }

proxy="$(go env GOPROXY)"
proxy="${proxy%,direct}"
proxy="${proxy%|direct}"
[ "$proxy" != direct ] && [ "$proxy" != off ] || die "GOPROXY is $(go env GOPROXY): set it to the module proxy this machine reaches"
export GOPROXY="$proxy" GOPATH="$cache/go" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
export GOFLAGS="-p=${SEMAIL_TOOLCHAIN_JOBS:-1} -mod=mod -modcacherw" GOWORK=off CGO_ENABLED=0
go_() { nice -n 19 go "$@"; }

pkg=github.com/pulumi/pulumi/pkg/v3
sdk=github.com/pulumi/pulumi/sdk/v3
src="$dir/src/pulumi"

# `go install pkg@version` refuses a module with replace lines, so a throw-away wrapper
# module requires it, pins sdk/v3 to the same release (pkg's `sdk/v3 => ../sdk` cannot come
# along) and copies its replaces that name another module (atotto/clipboard's fork).
json="$(cd "$dir/src" && go_ mod download -json "$pkg@v$pulumi_v")" || true
gomod="$(printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);if(j.GoMod)console.log(j.GoMod);else console.error(j.Error||s)}catch{console.error(s)}})')"
[ -n "$gomod" ] || die "the module proxy ($GOPROXY) did not serve $pkg@v$pulumi_v"
rm -rf "$src" && mkdir -p "$src"
printf 'module semail.local/toolchain/pulumi\n\ngo 1.25\n' >"$src/go.mod"
mapfile -t replaces < <(go mod edit -json "$gomod" | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    for (const r of JSON.parse(s).Replace || []) {
      if (!r.New.Version) continue;  // a folder of the upstream repo
      const old = r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path;
      console.log(`-replace=${old}=${r.New.Path}@${r.New.Version}`);
    } });')
[ ${#replaces[@]} -eq 0 ] || (cd "$src" && go mod edit "${replaces[@]}")
(cd "$src" && go_ get "$pkg@v$pulumi_v" "$sdk@v$pulumi_v") || die "go get in $src failed"

# Pulumi's own release flags (.goreleaser.yml): pure-Go os/user, gRPC without x/net/trace;
# the version must be the plain release string, or the Automation API cannot parse it.
note "building pulumi $pulumi_v (one core unless SEMAIL_TOOLCHAIN_JOBS: the slow part)"
(cd "$src" && go_ build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-s -w -X $sdk/go/common/version.Version=v$pulumi_v" -o "$bin/.pulumi.partial" "$pkg/cmd/pulumi") ||
  die "go build of $pkg/cmd/pulumi failed"
mv -f "$bin/.pulumi.partial" "$bin/pulumi"
note "done: $bin/pulumi $("$bin/pulumi" version)"
echo "$bin"
