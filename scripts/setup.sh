#!/usr/bin/env bash
# One-time (idempotent) setup on Debian 12: system packages with apt, then the project venv
# (.venv, made from Debian's python3 with system site-packages) with the pinned stock `flwr`.
# Used by the README, .ci/run (through scripts/test.sh) and the Dockerfiles' build stage.
#
#   scripts/setup.sh            packages + venv
#   scripts/setup.sh --no-venv  packages only (image builds)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WANT_VENV=1
[[ "${1:-}" == "--no-venv" ]] && WANT_VENV=0

APT_PACKAGES=(
  build-essential g++ cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libsqlite3-dev libsqlitecpp-dev libssl-dev openssl
  libtomlplusplus-dev libzip-dev libcpp-httplib-dev libcli11-dev libtorch-dev
  python3-torch python3-torchvision python3-pil python3-matplotlib
  clang clang-format libclang-rt-14-dev
  python3 python3-venv python3-dev python3-pip
  prometheus-cpp-dev
  zip unzip iproute2 procps
)

SUDO=""
[[ "$(id -u)" != "0" ]] && SUDO="sudo"

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_packages() {
  local missing
  missing="$(missing_packages)"
  if [[ -z "$missing" ]]; then
    echo "setup: Debian packages present"
    return
  fi
  echo "setup: installing Debian packages:" $missing
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
}

install_venv() {
  local venv="$ROOT/.venv"
  local stamp="$venv/.requirements.sha256"
  local want
  want="$(cat "$ROOT/flower-version.txt" "$ROOT/requirements-test.txt" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup: venv up to date ($(head -1 "$ROOT/flower-version.txt"))"
    return
  fi
  [[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    -r "$ROOT/flower-version.txt" -r "$ROOT/requirements-test.txt"
  echo "$want" > "$stamp"
  echo "setup: venv ready: $("$venv/bin/flwr" --version 2>/dev/null | head -1)"
}

install_packages
[[ "$WANT_VENV" == "1" ]] && install_venv
exit 0
