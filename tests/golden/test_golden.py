"""Golden compatibility: C++ flwr::core against objects made by each pinned stock `flwr`.

make_golden.py writes values, object bytes, object IDs, object trees and protobufs with the
stock flwr of each pinned line (run by that line's venv); the C++ golden_test must deflate the same values to the same bytes and IDs,
and inflate Python's objects back to the same values.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import flwr
import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory: pytest.TempPathFactory, flwr_line_python: Path) -> Path:
    out = tmp_path_factory.mktemp("golden")
    subprocess.run([str(flwr_line_python), str(HERE / "make_golden.py"), str(out)], check=True)
    return out


def test_golden_cases_come_from_the_pinned_flwr(golden_dir: Path, flwr_line: str,
                                                pinned_flwr_version: str) -> None:
    manifest = json.loads((golden_dir / "manifest.json").read_text())
    assert flwr.__version__ == pinned_flwr_version  # the project venv has the primary pin
    assert manifest["flwr_version"] == flwr_line
    kinds = {case["kind"] for case in manifest["cases"]}
    assert kinds == {"npy", "array", "arrayrecord", "configrecord", "metricrecord",
                     "recorddict", "message", "context", "reencode"}


def test_cpp_matches_python_objects_both_ways(golden_dir: Path, build_dir: Path) -> None:
    result = subprocess.run(
        [str(build_dir / "tests/unit/golden_test"), str(golden_dir), "--gtest_brief=1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    passed = re.search(r"\[  PASSED  \] (\d+) tests", result.stdout)
    assert passed, result.stdout[-5000:]
    manifest = json.loads((golden_dir / "manifest.json").read_text())
    # Every inflatable case runs twice (deflate, inflate), natives once more, the rest once.
    expected = sum(
        1 if c["kind"] in ("npy", "context", "reencode") else 2 + ("native" in c) for c in manifest["cases"]
    )
    assert int(passed.group(1)) == expected


def test_golden_test_fails_on_a_corrupted_python_object(golden_dir: Path, build_dir: Path,
                                                        tmp_path: Path) -> None:
    """The comparison can fail: flip one byte of one Python object and C++ must notice."""
    manifest = json.loads((golden_dir / "manifest.json").read_text())
    case = next(c for c in manifest["cases"] if c["name"] == "config_all_types")
    corrupt = tmp_path / "golden"
    (corrupt / "objects").mkdir(parents=True)
    (corrupt / "blobs").mkdir()
    for object_id in case["objects"]:
        data = bytearray((golden_dir / "objects" / object_id).read_bytes())
        data[-1] ^= 0x01
        (corrupt / "objects" / object_id).write_bytes(bytes(data))
    for key in ("proto", "tree"):
        (corrupt / case[key]).write_bytes((golden_dir / case[key]).read_bytes())
    (corrupt / "manifest.json").write_text(json.dumps({"cases": [case]}))
    result = subprocess.run(
        [str(build_dir / "tests/unit/golden_test"), str(corrupt), "--gtest_brief=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "hash" in result.stdout  # the inflater reports the ID mismatch
