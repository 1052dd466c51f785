#!/usr/bin/env bash
# The README's test command, and exactly what CI (.ci/run) runs: set up a fresh Debian 12
# machine, build, then run every test: C++ unit tests (ctest), then the pytest suites
# (golden compatibility against the pinned stock flwr, proto schema, fuzzing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

start=$SECONDS
stage() { echo; echo "=== $* ($((SECONDS - start)) s)"; }

stage "setup"
scripts/setup.sh
stage "build"
scripts/build.sh
stage "C++ unit tests"
ctest --test-dir "${FLWR_BUILD_DIR:-$ROOT/build}" --output-on-failure -j 2
stage "pytest"
# Two workers (FLWR_TEST_WORKERS), a test module at a time each: most tests wait on processes
# (heartbeats, rounds, retries), so two at once take about half the time on the 2-core machine.
# A module stays on one worker (--dist loadfile): its module fixtures start once, and the tests
# that start a Ray simulation never run two at a time.
.venv/bin/python -m pytest tests --durations=25 -n "${FLWR_TEST_WORKERS:-2}" --dist loadfile
# The test modules that import an older line's stock flwr in-process run in that line's venv
# (tests/conftest.py: IN_PROCESS_LINE_MODULES); a line with none gives pytest's "no tests" (5).
for version in $(scripts/setup.sh --pins | tail -n +2); do
  stage "pytest (modules of flwr $version in-process)"
  ".venv-$version/bin/python" -m pytest tests || [[ $? == 5 ]]
done
