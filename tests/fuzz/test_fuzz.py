"""The libFuzzer targets over the decoders of network and user input, run deterministically.

scripts/fuzz.sh (CI mode) builds the targets with clang and sanitizers in build-fuzz/, replays
every committed input of tests/fuzz/corpus/ and the generated seeds, then fuzzes a fixed number
of executions from a fixed seed; it fails on any crash, leak, timeout, OOM or broken invariant.
Long randomized fuzzing is `scripts/fuzz.sh --long`, outside the test suite.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = (
    "fuzz_npy",
    "fuzz_object_head",
    "fuzz_inflate",
    "fuzz_proto",
    "fuzz_fab",
    "fuzz_pyproject",
    "fuzz_user_config",
    "fuzz_node_auth",
    "fuzz_http",
    "fuzz_trusted_entities",
)


def test_fuzzers_replay_the_corpus_and_find_nothing() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fuzz.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-8000:]
    summary = result.stdout.split("=== summary", 1)[1]
    for target in TARGETS:
        line = next(l for l in summary.splitlines() if l.startswith(target + " "))
        committed = len(list((ROOT / "tests" / "fuzz" / "corpus" / target[5:]).glob("*")))
        # Every committed input was replayed, then the target fuzzed its full budget.
        assert re.search(rf"replayed: +\d+ \({committed} committed\)", line), line
        assert re.search(r"fuzzed: [1-9]\d*", line), line
        assert line.endswith("ok"), line
