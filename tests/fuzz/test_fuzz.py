"""Bounded libFuzzer runs over the core's decoders (.npy, object heads, inflate).

scripts/fuzz.sh builds the targets with clang and sanitizers in build-fuzz/, runs each for
FLWR_FUZZ_SECONDS (default 20) and fails on any crash, leak, timeout or OOM.
"""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fuzzers_find_nothing() -> None:
    seconds = os.environ.get("FLWR_FUZZ_SECONDS", "20")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fuzz.sh"), seconds],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-8000:]
    for target in ("fuzz_npy", "fuzz_object_head", "fuzz_inflate"):
        assert target in result.stdout
