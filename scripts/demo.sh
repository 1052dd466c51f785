#!/usr/bin/env bash
# The README's main command. Until the federation lands (issues 3-5) the main job is the
# smallest real thing that exists: the C++ core and the stock Python flwr deflating the same
# 100 MB model side by side (bench/bench_deflate.py), after setting up and building.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
scripts/build.sh
.venv/bin/python bench/bench_deflate.py "$@"
