#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan + coverage over the
# whole build, flwr::proto and flwr::core included) in build-fuzz/, writes their seed corpora,
# and fuzzes each target for a bounded time. Idempotent; runs from any directory.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 20; CI: 3 targets x 20 s)
#
# Exits non-zero if a target finds a crash, leak, timeout or OOM; the input that triggered it
# stays under build-fuzz/artifacts/. The corpus each run grows is kept in
# build-fuzz/corpus/<target>/ and reused by the next run. Reproduce a finding with
#   build-fuzz/tests/fuzz/<target> build-fuzz/artifacts/<target>/<file>
# Environment: FUZZ_CXX / FUZZ_CC (default clang++-14 / clang-14), FUZZ_TARGETS (a subset of
# the targets, space-separated).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
BUILD="$ROOT/build-fuzz"
TARGETS=(${FUZZ_TARGETS:-fuzz_npy fuzz_object_head fuzz_inflate})

pick() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 && { echo "$c"; return; }; done; }
CXX_FUZZ="${FUZZ_CXX:-$(pick clang++-14 clang++)}"
CC_FUZZ="${FUZZ_CC:-$(pick clang-14 clang)}"
if [[ -z "$CXX_FUZZ" ]]; then
  echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

start=$SECONDS
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
LINK="-fsanitize=address,undefined"

# ccache: paths relative to the checkout, so fresh clones (CI) reuse the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
# Configure (cheap when the cache already matches). The top-level CMakeLists.txt uses ccache
# as the compiler launcher when it is installed. Build type Debug: no -DNDEBUG, so assertions
# stay on; optimisation comes from -O1 above.
echo "=== configure + build ($CXX_FUZZ)"
mkdir -p "$BUILD"
cmake -G Ninja -S "$ROOT" -B "$BUILD" \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_COMPILER="$CXX_FUZZ" ${CC_FUZZ:+-DCMAKE_C_COMPILER="$CC_FUZZ"} \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="$LINK" -DCMAKE_SHARED_LINKER_FLAGS="$LINK" \
  -DFLWR_BUILD_FUZZERS=ON -DFLWR_BUILD_TESTS=OFF -DFLWR_BUILD_BENCH=OFF \
  --no-warn-unused-cli >"$BUILD/configure.log" 2>&1 || {
  cat "$BUILD/configure.log" >&2
  exit 1
}
ninja -C "$BUILD" fuzzers
echo "build: $((SECONDS - start)) s"

echo "=== seeds"
rm -rf "$BUILD/seeds"
ASAN_OPTIONS=detect_leaks=0 "$BUILD/tests/fuzz/fuzz_seeds" "$BUILD/seeds"
for target in "${TARGETS[@]}"; do
  echo "${target#fuzz_}: $(find "$BUILD/seeds/${target#fuzz_}" -type f | wc -l) seeds"
done

# Abort with a stack trace on the first UBSan report (libFuzzer turns it into a crash).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summaries=()
for target in "${TARGETS[@]}"; do
  name="${target#fuzz_}"
  case "$name" in
    inflate) max_len=1048576 ;;
    *) max_len=65536 ;;
  esac
  corpus="$BUILD/corpus/$target"
  artifacts="$BUILD/artifacts/$target"
  workdir="$BUILD/run/$target"
  mkdir -p "$corpus" "$artifacts" "$workdir"
  rm -f "$workdir"/fuzz-*.log
  echo "=== $target: ${SECONDS_PER_TARGET} s"
  # -jobs=1 -workers=1: one fuzzing child process, whose output libFuzzer writes to fuzz-0.log
  # in the working directory; the parent exits non-zero if the child did.
  rc=0
  (
    cd "$workdir"
    timeout --signal=KILL $((SECONDS_PER_TARGET + 120)) \
      "$BUILD/tests/fuzz/$target" \
      -max_total_time="$SECONDS_PER_TARGET" -max_len="$max_len" -rss_limit_mb=2048 \
      -timeout=10 -dict="$ROOT/tests/fuzz/$name.dict" -jobs=1 -workers=1 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 \
      "$corpus" "$BUILD/seeds/$name"
  ) >"$workdir/driver.log" 2>&1 || rc=$?
  log="$workdir/fuzz-0.log"
  [[ -f "$log" ]] || log="$workdir/driver.log"
  stats="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)"
  runs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)"
  [[ -n "$runs" ]] || runs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$stats")"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")"
  corp="$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$stats")"
  line="$(printf '%-17s runs: %-9s cov: %-6s ft: %-6s corpus: %s' \
    "$target" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")"
  if [[ $rc -ne 0 ]]; then
    artifact="$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)"
    # The most specific description: a broken invariant, a UBSan report, a sanitizer or
    # libFuzzer error (leak, timeout, out-of-memory, deadly signal).
    kind="$(grep -m1 -oE 'invariant violated: .*|runtime error: .*' "$log" || true)"
    [[ -n "$kind" ]] || kind="$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^(]*' "$log" || true)"
    line+="  FAILED (exit $rc): ${kind:-see log}"
    echo "--- $target log (tail): $log" >&2
    tail -n 60 "$log" >&2
    [[ -n "$artifact" ]] && line+="  artifact: $artifact"
    failed+=("$target")
  fi
  echo "$line"
  summaries+=("$line")
done

echo "=== summary ($((SECONDS - start)) s in all)"
printf '%s\n' "${summaries[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $BUILD/artifacts/)" >&2
  exit 1
fi
echo "fuzz: OK"
