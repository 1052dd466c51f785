#!/usr/bin/env bash
# Build the container images with podman (no Docker engine, no registry pulls):
#
#   scripts/build-images.sh          the base image (if missing), then four tags:
#     <prefix>/superlink:<tag>   Dockerfile.superexec --target superlink   (flower-superlink)
#     <prefix>/superexec:<tag>   Dockerfile.superexec                      (flower-superexec, ServerApps)
#     <prefix>/supernode:<tag>   Dockerfile.clientapp --target supernode   (flower-supernode)
#     <prefix>/clientapp:<tag>   Dockerfile.clientapp                      (flower-superexec, ClientApps)
#   scripts/build-images.sh --base   only the base image
#
# The Dockerfiles start FROM debian:bookworm-slim. Here that image is made locally with
# debootstrap (minbase, slimmed like the official image: no docs, man pages or locales, empty
# apt lists) and tagged docker.io/library/debian:bookworm-slim, and podman builds with
# --pull=never. The build stage runs scripts/setup.sh and scripts/build.sh, as CI does.
#
# Needs root (podman, debootstrap, chroot); installs podman and debootstrap from Debian when
# missing (only this script needs them, so scripts/setup.sh and the images' build stage don't).
# Environment: FLWR_IMAGE_PREFIX (default flwr-cpp), FLWR_IMAGE_TAG (default 0.1.0),
# DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Time on the 2-core dev machine: base ~1 min; first image build ~13 min (apt downloads and
# a cold C++ build; ccache persists in a build cache mount); a rebuild after a source change
# a few minutes; with nothing changed, seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${FLWR_IMAGE_PREFIX:-flwr-cpp}"
TAG="${FLWR_IMAGE_TAG:-0.1.0}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BASE="docker.io/library/debian:bookworm-slim"

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ ${#missing[@]} -eq 0 ]] && return
  echo "build-images: installing ${missing[*]}"
  local sudo=""
  [[ "$(id -u)" != "0" ]] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_base() {
  if podman image exists "$BASE"; then
    echo "build-images: base $BASE present"
    return
  fi
  local rootfs
  rootfs="$(mktemp -d /var/tmp/flwr-bookworm-slim.XXXXXX)"
  BASE_ROOTFS="$rootfs"  # removed on exit, also on failure
  echo "build-images: debootstrap bookworm (minbase) from $MIRROR"
  debootstrap --variant=minbase --components=main bookworm "$rootfs" "$MIRROR" >/dev/null

  # Slim as the official image: dpkg leaves out documentation, man pages and locales.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian,man}/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # apt: no package caches in image layers (as the official image's docker-clean).
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$rootfs/etc/apt/sources.list"
  local security="${MIRROR%/debian}/debian-security"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'CMD ["bash"]' - "$BASE" >/dev/null
  echo "build-images: base $BASE imported ($(podman image inspect --format '{{.Size}}' "$BASE") bytes)"
}

build_image() {  # dockerfile target
  local revision
  revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "build-images: $PREFIX/$2:$TAG ($1, target $2)"
  # --network=host: the build stage installs from Debian's archive (setup.sh, apt-get);
  # --format docker: keeps HEALTHCHECK, which the OCI image format has no field for;
  # --isolation chroot: RUN steps without an OCI runtime (in sandboxes crun can fail to set
  # rlimits or cgroups); the image content is the same.
  podman build --pull=never --network=host --format docker --layers --isolation chroot \
    -f "$ROOT/$1" --target "$2" \
    --build-arg VERSION="$TAG" --build-arg REVISION="$revision" \
    -t "$PREFIX/$2:$TAG" "$ROOT"
}

BASE_ROOTFS=""
trap 'rm -rf "$BASE_ROOTFS"' EXIT
install_tools
build_base
[[ "${1:-}" == "--base" ]] && exit 0
build_image Dockerfile.superexec superlink
build_image Dockerfile.superexec superexec
build_image Dockerfile.clientapp supernode
build_image Dockerfile.clientapp clientapp
echo "build-images: done"
for name in superlink superexec supernode clientapp; do
  printf '  %-28s %s bytes\n' "$PREFIX/$name:$TAG" \
    "$(podman image inspect --format '{{.Size}}' "$PREFIX/$name:$TAG")"
done
