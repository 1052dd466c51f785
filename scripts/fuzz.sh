#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan + coverage over the
# whole build, flwr::proto and the core/ libraries included) in build-fuzz/ and runs them.
#
#   scripts/fuzz.sh                 CI mode (what scripts/test.sh runs): deterministic.
#   scripts/fuzz.sh --long [SECS]   exploration: random seeds, SECS per target (default 600).
#
# CI mode, for each target: replays every committed input of tests/fuzz/corpus/<name>/
# (regressions found earlier, plus hand-made seeds) and the seeds fuzz_seeds writes, then
# fuzzes a fixed number of executions (FLWR_FUZZ_RUNS, default per target below) from a fixed
# seed (FLWR_FUZZ_SEED, default 1) in a fresh working corpus. Same commit, same inputs, same
# result: no run depends on the clock, on an earlier run, or on chance.
#
# --long: random seed per run, time-bounded, and the corpus it grows is kept in
# build-fuzz/corpus/<target>/ for the next --long run. Whatever it finds lands in
# build-fuzz/artifacts/<target>/; fix the cause, then commit the input as
# tests/fuzz/corpus/<name>/regression-<what> so that CI replays it from then on.
#
# Exits non-zero if a target crashes, leaks, times out, runs out of memory or breaks an
# invariant; the log names the input. Reproduce with
#   build-fuzz/tests/fuzz/<target> <input>
# Environment: FUZZ_CXX / FUZZ_CC (default clang++-14 / clang-14), FUZZ_TARGETS (a subset of
# the targets, space-separated).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=ci
LONG_SECONDS=600
case "${1:-}" in
  "") ;;
  --long)
    MODE=long
    LONG_SECONDS="${2:-600}"
    ;;
  *)
    echo "usage: $0 [--long [SECONDS_PER_TARGET]]" >&2
    exit 2
    ;;
esac
if ! [[ "$LONG_SECONDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [--long [SECONDS_PER_TARGET]]" >&2
  exit 2
fi
BUILD="$ROOT/build-fuzz"
CORPUS="$ROOT/tests/fuzz/corpus"
ALL_TARGETS="fuzz_npy fuzz_object_head fuzz_inflate fuzz_proto fuzz_fab fuzz_pyproject fuzz_user_config fuzz_node_auth fuzz_http fuzz_trusted_entities"
TARGETS=(${FUZZ_TARGETS:-$ALL_TARGETS})
SEED="${FLWR_FUZZ_SEED:-1}"

# Executions per target in CI mode: 5-25 s each on the 2-core CI machine.
ci_runs() {
  case "$1" in
    fuzz_npy) echo 500000 ;;
    fuzz_object_head) echo 300000 ;;
    fuzz_inflate) echo 2500 ;;
    fuzz_proto) echo 150000 ;;
    fuzz_fab) echo 30000 ;;
    fuzz_pyproject) echo 200000 ;;
    fuzz_user_config) echo 150000 ;;
    fuzz_node_auth) echo 25000 ;;
    fuzz_http) echo 40000 ;;
    fuzz_trusted_entities) echo 20000 ;;
    *) echo 20000 ;;
  esac
}

pick() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 && { echo "$c"; return; }; done; }
CXX_FUZZ="${FUZZ_CXX:-$(pick clang++-14 clang++)}"
CC_FUZZ="${FUZZ_CC:-$(pick clang-14 clang)}"
if [[ -z "$CXX_FUZZ" ]]; then
  echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

start=$SECONDS
# GOOGLE_PROTOBUF_NO_RDTSC: protobuf's Map seeds its hash from the CPU's time-stamp counter,
# which would make iteration orders, and with them coverage, differ from run to run.
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1 -DGOOGLE_PROTOBUF_NO_RDTSC"
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

# Determinism in CI mode: -reload=0 (libFuzzer otherwise re-reads its corpus on a clock) and
# no address-space randomisation (Abseil seeds its hash tables from an address, so iteration
# orders, and with them the coverage the fuzzer follows, would change from run to run).
FIXED=()
if [[ "$MODE" == ci ]]; then
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    FIXED=(setarch "$(uname -m)" -R)
  else
    echo "fuzz: warning: cannot turn off address randomisation; runs may differ" >&2
  fi
fi

# Abort with a stack trace on the first UBSan report (libFuzzer turns it into a crash).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The targets run from their work directory, $BUILD/run/<target>, with relative paths only and a
# fixed environment: neither the checkout's path nor the caller's environment reaches their memory
# (path strings and environment size move the heap and the stack, and with them the
# pointer-keyed hash orders the coverage follows). So a fresh clone anywhere replays exactly the
# run of any other clone of the same commit.
R="../../.."  # the checkout, seen from $BUILD/run/<target>
B="../.."     # $BUILD, seen from there
symbolizer="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
CLEAN_ENV=(env -i PATH=/usr/bin:/bin HOME=/nonexistent LC_ALL=C
  "UBSAN_OPTIONS=$UBSAN_OPTIONS" "ASAN_OPTIONS=${ASAN_OPTIONS:-}"
  ${symbolizer:+"ASAN_SYMBOLIZER_PATH=$symbolizer"})
# fuzz_http serves a streaming route too when exploring (its handler thread is not deterministic).
[[ "$MODE" == long ]] && CLEAN_ENV+=(FUZZ_HTTP_STREAMS=1)

# Prints the most specific description of a failure in log $1: a broken invariant, a UBSan
# report, a sanitizer or libFuzzer error (leak, timeout, out-of-memory, deadly signal).
failure_kind() {
  local kind
  kind="$(grep -m1 -oE 'invariant violated: .*|runtime error: .*' "$1" || true)"
  [[ -n "$kind" ]] || kind="$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^(]*' "$1" || true)"
  echo "${kind:-see log}"
}

failed=()
summaries=()
for target in "${TARGETS[@]}"; do
  name="${target#fuzz_}"
  case "$name" in
    inflate) max_len=1048576 ;;
    http) max_len=16384 ;;
    *) max_len=65536 ;;
  esac
  binary="$B/tests/fuzz/$target"
  dict_flag=()
  [[ -f "$ROOT/tests/fuzz/$name.dict" ]] && dict_flag=(-dict="$R/tests/fuzz/$name.dict")
  workdir="$BUILD/run/$target"
  rm -rf "$workdir"
  mkdir -p "$BUILD/artifacts/$target" "$workdir"
  common=(-max_len="$max_len" -rss_limit_mb=2048 -timeout=10
    -artifact_prefix="$B/artifacts/$target/" "${dict_flag[@]}" -print_final_stats=1)
  status="ok"

  # 1. Replay: every committed input and every generated seed, each executed once.
  committed=()
  [[ -d "$CORPUS/$name" ]] &&
    mapfile -t committed < <(cd "$workdir" && find "$R/tests/fuzz/corpus/$name" -type f | sort)
  replay_log="$workdir/replay.log"
  rc=0
  # libFuzzer runs explicit files once each (no mutation) when given files, not directories.
  inputs=("${committed[@]}")
  [[ -d "$BUILD/seeds/$name" ]] &&
    mapfile -t -O "${#inputs[@]}" inputs < <(cd "$workdir" && find "$B/seeds/$name" -type f | sort)
  (cd "$workdir" && "${CLEAN_ENV[@]}" "${FIXED[@]}" "$binary" "${common[@]}" "${inputs[@]}") \
    >"$replay_log" 2>&1 || rc=$?
  line="$(printf '%-17s replayed: %4d (%d committed)' "$target" "${#inputs[@]}" "${#committed[@]}")"
  if [[ $rc -ne 0 ]]; then
    status="FAILED replaying (exit $rc): $(failure_kind "$replay_log")"
    echo "--- $target replay log (tail): $replay_log" >&2
    tail -n 60 "$replay_log" >&2
  else
    # 2. Fuzz: fixed seed and execution count in CI, random seed and a time bound with --long.
    if [[ "$MODE" == ci ]]; then
      work_corpus="corpus"
      budget=(-seed="$SEED" -runs="${FLWR_FUZZ_RUNS:-$(ci_runs "$target")}" -reload=0)
      kill_after=1800
    else
      work_corpus="$BUILD/corpus/$target"
      budget=(-max_total_time="$LONG_SECONDS")
      kill_after=$((LONG_SECONDS + 300))
    fi
    (cd "$workdir" && mkdir -p "$work_corpus")
    fuzz_log="$workdir/fuzz.log"
    seed_dirs=()
    [[ -d "$CORPUS/$name" ]] && seed_dirs+=("$R/tests/fuzz/corpus/$name")
    [[ -d "$BUILD/seeds/$name" ]] && seed_dirs+=("$B/seeds/$name")
    (
      cd "$workdir"
      timeout --signal=KILL "$kill_after" "${CLEAN_ENV[@]}" "${FIXED[@]}" \
        "$binary" "${budget[@]}" "${common[@]}" "$work_corpus" "${seed_dirs[@]}"
    ) >"$fuzz_log" 2>&1 || rc=$?
    stats="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$fuzz_log" | tail -1 || true)"
    runs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$fuzz_log" | tail -1)"
    cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")"
    ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")"
    line+="$(printf '  fuzzed: %-8s cov: %-6s ft: %-6s' "${runs:-?}" "${cov:-?}" "${ft:-?}")"
    if [[ $rc -ne 0 ]]; then
      artifact="$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$fuzz_log" | tail -1)"
      [[ -n "$artifact" ]] && artifact="$(realpath -m "$workdir/$artifact")"
      status="FAILED (exit $rc): $(failure_kind "$fuzz_log")${artifact:+  input: $artifact}"
      echo "--- $target log (tail): $fuzz_log" >&2
      tail -n 60 "$fuzz_log" >&2
    fi
  fi
  line+="  $status"
  [[ "$status" == ok ]] || failed+=("$target")
  echo "$line"
  summaries+=("$line")
done

echo "=== summary ($MODE mode, $((SECONDS - start)) s in all)"
printf '%s\n' "${summaries[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $BUILD/artifacts/)" >&2
  exit 1
fi
echo "fuzz: OK"
