#!/usr/bin/env bash
# One-time (idempotent) setup on Debian 12: system packages with apt, then one venv per Flower pin
# of flower-version.txt, made from Debian's python3 with system site-packages: .venv with the
# primary pin, .venv-<version> with each other one (the stock `flwr` of that line, with its
# `simulation` extra: the Ray that `flower-superlink --simulation` runs simulations on, pinned
# exactly by that flwr release, ray==2.55.1 for both pins; a 74 MB wheel, 220 MB installed).
# Used by the README, .ci/run (through scripts/test.sh) and the Dockerfiles' build stage.
#
#   scripts/setup.sh            packages + venvs
#   scripts/setup.sh --no-venv  packages only (image builds)
#   scripts/setup.sh --pins     print the Flower pins, primary first, one per line (nothing else)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WANT_VENV=1
[[ "${1:-}" == "--no-venv" ]] && WANT_VENV=0

APT_PACKAGES=(
  build-essential g++ cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libsqlite3-dev libsqlitecpp-dev libssl-dev openssl
  libtomlplusplus-dev libzip-dev libcpp-httplib-dev libboost-dev libcli11-dev libyaml-cpp-dev libtorch-dev
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

# The Flower pins of flower-version.txt, primary first ("1.42.0" ...).
flower_pins() { sed -n 's/^flwr==\([^[:space:]]*\).*/\1/p' "$ROOT/flower-version.txt"; }
[[ "${1:-}" == "--pins" ]] && { flower_pins; exit 0; }

# install_venv DIR VERSION: a venv from Debian's python3 (system site-packages: python3-torch)
# with flwr[simulation]==VERSION and the test requirements; skipped when its stamp says it is up
# to date.
install_venv() {
  local venv="$1" version="$2"
  local stamp="$venv/.requirements.sha256"
  local flwr="flwr[simulation]==$version"
  local want
  want="$({ echo "$flwr"; cat "$ROOT/requirements-test.txt"; } | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup: venv $(basename "$venv") up to date ($flwr)"
    return
  fi
  [[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$flwr" -r "$ROOT/requirements-test.txt"
  echo "$want" > "$stamp"
  echo "setup: venv $(basename "$venv") ready: $("$venv/bin/flwr" --version 2>/dev/null | head -1)," \
    "ray $("$venv/bin/python" -c 'import ray; print(ray.__version__)')"
}

install_venvs() {
  local first=1 version
  for version in $(flower_pins); do
    if ((first)); then
      install_venv "$ROOT/.venv" "$version"
      first=0
    else
      install_venv "$ROOT/.venv-$version" "$version"
    fi
  done
}

install_packages
[[ "$WANT_VENV" == "1" ]] && install_venvs
exit 0
