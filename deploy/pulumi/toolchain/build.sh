#!/usr/bin/env bash
# Builds the Pulumi toolchain the real engine runs SEMail with, from Go modules (issue 14):
# the CLI `pulumi`, the Node.js language host `pulumi-language-nodejs`, and the providers
# `pulumi-resource-command` and `pulumi-resource-docker`, at the versions package-lock.json
# installs (@pulumi/pulumi, @pulumi/command, @pulumi/docker), into a cache outside the clone:
#
#   ${SEMAIL_TOOLCHAIN_CACHE:-/var/cache/semail/pulumi-toolchain}/<key>/bin    the binaries
#   .../<key>/home                      a PULUMI_HOME with the providers installed as plugins
#   .../go/mod, .../go/build            GOMODCACHE and GOCACHE, kept so a stopped run resumes
#
# <key> names the three versions and the Go release. A finished binary is never rebuilt.
# Time on the 2-core machine at one core (-p 1, nice 19): the CLI about 8 min cold (1.3 GB
# of modules, 1.6 GB of build cache), 1 s warm. The last line on stdout is the bin dir;
# progress and the wall time go to stderr. Exits 1 if any binary could not be had, naming
# each one. Today the module proxy this workplace reaches refuses (403) the language host
# and both providers, so only the CLI builds: see README.md.
#
# Env: SEMAIL_TOOLCHAIN_CACHE (cache root), SEMAIL_TOOLCHAIN_JOBS (go build -p, default 1).
set -euo pipefail

started=$SECONDS
trap 'echo "toolchain: wall time $((SECONDS - started)) s" >&2' EXIT
die() { echo "toolchain: $*" >&2; exit 1; }
note() { echo "toolchain: $*" >&2; }

repo="$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
lock="$repo/package-lock.json"
[ -f "$lock" ] || die "no $lock: this script reads the versions from the clone it lives in"
command -v go >/dev/null || die "no go on PATH (Go >= 1.25 is needed; try PATH=/usr/local/go/bin:\$PATH)"
command -v node >/dev/null || die "no node on PATH (it reads package-lock.json)"

# The version npm installs for an npm package, from package-lock.json.
locked() {
  node -e '
    const [lock, name] = process.argv.slice(1);
    const p = require(lock).packages["node_modules/" + name];
    if (!p || !p.version) { console.error(`${name} is not in ${lock}: run npm install`); process.exit(1); }
    console.log(p.version);' "$lock" "$1"
}
pulumi_v="$(locked @pulumi/pulumi)"
command_v="$(locked @pulumi/command)"
docker_v="$(locked @pulumi/docker)"

cache="${SEMAIL_TOOLCHAIN_CACHE:-/var/cache/semail/pulumi-toolchain}"
key="pulumi-${pulumi_v}_command-${command_v}_docker-${docker_v}_$(go env GOVERSION)"
dir="$cache/$key"
bin="$dir/bin"
home="$dir/home"
mkdir -p "$bin" "$home" "$dir/src"

# One build per key at a time; a second run waits, then finds the binaries made.
exec 9>"$dir/.lock"
flock -n 9 || { note "another build holds $dir/.lock: waiting"; flock 9; }

export GOPATH="$cache/go" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
export GOFLAGS="-p=${SEMAIL_TOOLCHAIN_JOBS:-1} -mod=mod -modcacherw" GOWORK=off CGO_ENABLED=0
go_() { nice -n 19 go "$@"; }

# The JSON field FIELD (a dotted path) of JSON on stdin, or nothing.
field() { node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    let v = JSON.parse(s); for (const k of process.argv[1].split(".")) v = v == null ? v : v[k];
    if (v != null) console.log(v); });' "$1"; }

# Downloads MODULE@QUERY into the module cache and prints `go mod download -json`'s answer;
# if the proxy refuses, says so with its error and fails.
download() {
  local json
  json="$(cd "$dir/src" && go_ mod download -json "$1")" || true
  if [ -z "$(printf '%s' "$json" | field GoMod 2>/dev/null)" ]; then
    note "cannot download $1: $(printf '%s' "$json" | field Error 2>/dev/null || printf '%s' "$json")"
    return 1
  fi
  printf '%s\n' "$json"
}

# wrapper NAME MODULE@QUERY [MODULE@VERSION...]: a throw-away module in $dir/src/NAME that
# requires MODULE (and pins the others), with the replace lines of MODULE's own go.mod that
# name another module. Its replaces by a folder of the upstream repo (sdk/v3 => ../sdk)
# cannot come along and are left out: the pins stand in for them. `go install pkg@version`
# refuses any module with replace lines, hence this.
wrapper() {
  local name="$1" main="$2" src="$dir/src/$1" json gomod
  shift 2
  json="$(download "$main")" || return 1
  gomod="$(printf '%s' "$json" | field GoMod)"
  rm -rf "$src" && mkdir -p "$src"
  printf 'module semail.local/toolchain/%s\n\ngo 1.25\n' "$name" >"$src/go.mod"
  local -a replaces
  mapfile -t replaces < <(go mod edit -json "$gomod" | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      for (const r of JSON.parse(s).Replace || []) {
        if (!r.New.Version) continue;  // a folder of the upstream repo
        const old = r.Old.Version ? `${r.Old.Path}@${r.Old.Version}` : r.Old.Path;
        console.log(`-replace=${old}=${r.New.Path}@${r.New.Version}`);
      } });')
  [ ${#replaces[@]} -eq 0 ] || (cd "$src" && go mod edit "${replaces[@]}")
  (cd "$src" && go_ get "$main" "$@") || { note "go get in $src failed"; return 1; }
}

# compile NAME PACKAGE [LDFLAGS]: a release build of PACKAGE in $dir/src/NAME to $bin/NAME.
# The tags are those of Pulumi's own release (.goreleaser.yml): pure-Go os/user, and gRPC
# without x/net/trace, which otherwise keeps the linker from dropping dead code.
compile() {
  local name="$1" pkg="$2" ldflags="${3:-}"
  note "building $name (one core: this is the slow part)"
  (cd "$dir/src/$name" && go_ build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w $ldflags" -o "$bin/.$name.partial" "$pkg") || { note "go build of $pkg failed"; return 1; }
  mv -f "$bin/.$name.partial" "$bin/$name"
}

pulumi_pkg=github.com/pulumi/pulumi/pkg/v3
pulumi_sdk=github.com/pulumi/pulumi/sdk/v3
version_flag="-X $pulumi_sdk/go/common/version.Version=v$pulumi_v"

build_pulumi() {
  wrapper pulumi "$pulumi_pkg@v$pulumi_v" "$pulumi_sdk@v$pulumi_v" &&
    compile pulumi "$pulumi_pkg/cmd/pulumi" "$version_flag"
}

# Neither the language host nor pulumi-command's provider has tags of its own, so each is
# taken by the commit of its release tag. The proxy cannot name that commit (its .info
# keeps an Origin only on a first fetch), so this table does, one line per release used:
# pulumi's pkg/v3.X.Y tag (where the host's go.mod requires pkg/v3 and sdk/v3 at X.Y), and
# pulumi-command's root tag vX.Y.Z (its sdk/vX.Y.Z tag is on a commit that holds only the SDK).
declare -A release_commit=([pulumi-3.248.0]=dc7edd58bc13 [command-1.2.1]=7f3eb6f3b77c)
commit_of() {
  [ -n "${release_commit[$1]:-}" ] || { note "no commit known for $1: add its release tag's commit to release_commit"; return 1; }
  echo "${release_commit[$1]}"
}

build_language_nodejs() {
  local commit
  commit="$(commit_of "pulumi-$pulumi_v")" || return 1
  local host=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
  wrapper pulumi-language-nodejs "$host@$commit" "$pulumi_pkg@v$pulumi_v" "$pulumi_sdk@v$pulumi_v" &&
    compile pulumi-language-nodejs "$host" "$version_flag"
}

build_command() {
  local commit
  commit="$(commit_of "command-$command_v")" || return 1
  local mod=github.com/pulumi/pulumi-command/provider
  wrapper pulumi-resource-command "$mod@$commit" &&
    compile pulumi-resource-command "$mod/cmd/pulumi-resource-command" \
      "-X $mod/pkg/version.Version=$command_v"
}

# pulumi-docker's provider is not a module the proxy can build alone, even where it serves
# it: its go.mod replaces the Terraform provider by ../upstream, a git submodule patched
# by the repo's patches/*.patch (both outside the module), and main.go embeds
# schema-embed.json, which only `go generate` in a checkout makes. Ask for it anyway, so
# the proxy's own answer is on record; stop there.
build_docker() {
  download "github.com/pulumi/pulumi-docker/provider/v5@v$docker_v" >/dev/null || return 1
  note "pulumi-docker provider/v5@v$docker_v: its replace by ../upstream (a patched submodule) and its generated schema are not in the module: not buildable from Go modules"
  return 1
}

missing=()
for name in pulumi pulumi-language-nodejs pulumi-resource-command pulumi-resource-docker; do
  if [ -x "$bin/$name" ]; then note "$name: built already"; continue; fi
  case "$name" in
    pulumi) build_pulumi ;;
    pulumi-language-nodejs) build_language_nodejs ;;
    pulumi-resource-command) build_command ;;
    pulumi-resource-docker) build_docker ;;
  esac || missing+=("$name")
done

# The providers, as plugins of the exact versions the npm packages declare, installed from
# the file (no download): $home/plugins/resource-NAME-vVERSION/pulumi-resource-NAME.
offline=(PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true)
for plugin in "command $command_v" "docker $docker_v"; do
  set -- $plugin
  [ -x "$bin/pulumi-resource-$1" ] && [ -x "$bin/pulumi" ] || continue
  [ -x "$home/plugins/resource-$1-v$2/pulumi-resource-$1" ] && continue
  env "${offline[@]}" "$bin/pulumi" plugin install resource "$1" "$2" --file "$bin/pulumi-resource-$1" >&2 ||
    missing+=("plugin resource-$1-v$2")
done

[ ${#missing[@]} -eq 0 ] || die "not built: ${missing[*]} (see the messages above); what was built is in $bin"
note "done: PATH=$bin:\$PATH PULUMI_HOME=$home"
echo "$bin"
