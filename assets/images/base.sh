#!/usr/bin/env bash
# Makes the image every SEMail Dockerfile starts FROM: the tag debian:bookworm-slim, built
# here from Debian's own archive (debootstrap + docker import) because no container
# registry is reachable. In production the same tag is pulled, so the Dockerfiles stay the
# same. Skips when the tag exists; the root filesystem tarball is cached outside the clone
# ($SEMAIL_IMAGE_CACHE) so a fresh Docker data root only pays for the import.
#   usage: assets/images/base.sh [TAG]      (needs root for debootstrap; DOCKER_HOST honoured)
set -euo pipefail

tag=${1:-debian:bookworm-slim}
suite=bookworm
mirror=${SEMAIL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SEMAIL_IMAGE_CACHE:-/var/cache/semail/images}
tarball=$cache/debian-$suite-minbase.tar

say() { echo "base.sh: $*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  say "$tag exists; nothing to do"
  exit 0
fi
for tool in docker debootstrap; do
  command -v "$tool" >/dev/null || { say "$tool not found: apt-get install docker.io debootstrap"; exit 1; }
done

if [[ ! -s $tarball ]]; then
  [[ $(id -u) -eq 0 ]] || { say "debootstrap needs root (or a cached $tarball)"; exit 1; }
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root" "$root.tar"' EXIT
  say "debootstrap --variant=minbase $suite from $mirror (about a minute)"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
  # What the official slim image does to stay small: no docs, man pages or translations
  # from later installs, no kept .debs, no recommends; apt's lists are fetched per build.
  cat >"$root/etc/dpkg/dpkg.cfg.d/semail-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
  cat >"$root/etc/apt/apt.conf.d/semail-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
Acquire::Languages "none";
CFG
  # http, not https: an apt proxy (the apt-proxy image) can cache it, and apt checks
  # every file against the archive's signed Release anyway.
  cat >"$root/etc/apt/sources.list" <<CFG
deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
CFG
  # The same for what debootstrap already installed.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/*.log "$root"/var/log/apt/*
  # Empty: each container gets its own (systemd-style consumers would share one otherwise).
  : >"$root/etc/machine-id"
  # Written aside and renamed: a concurrent run never imports half a tarball.
  tar -C "$root" --numeric-owner -cf "$root.tar" .
  mv "$root.tar" "$tarball"
  say "cached the root filesystem in $tarball"
fi

say "docker import $tarball as $tag"
docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  -c 'CMD ["bash"]' \
  -m "debootstrap --variant=minbase $suite (assets/images/base.sh)" \
  "$tarball" "$tag" >/dev/null
say "made $tag"
