"""FABs and run/node configs: C++ flwr::fab against each pinned stock flwr.

make_config_golden.py builds FABs with flwr's own build and records what the pinned
SuperLink reads from them (or how it fails), what `flwr run -c` / `--node-config` parse and
how StartRun fuses overrides; fab_tool prints what flwr::fab makes of the same inputs.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import flwr
import pytest

HERE = Path(__file__).resolve().parent
FAB_MAX_SIZE = 10 * 1024 * 1024
EXACT_STAGES = ("config", "fuse", "args")  # Python ValueErrors whose text C++ mirrors


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory: pytest.TempPathFactory, flwr_line_python: Path) -> Path:
    out = tmp_path_factory.mktemp("config_golden")
    subprocess.run([str(flwr_line_python), str(HERE / "make_config_golden.py"), str(out)],
                   check=True)
    return out


@pytest.fixture(scope="module")
def manifest(golden_dir: Path) -> dict[str, Any]:
    return json.loads((golden_dir / "cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fab_tool(build_dir: Path) -> Path:
    tool = build_dir / "tests/config/fab_tool"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build the fab_tool target")
    return tool


def run_tool(fab_tool: Path, cwd: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [str(fab_tool), *args], cwd=cwd, capture_output=True, timeout=120, check=False
    )
    return result.returncode, json.loads(result.stdout), result.stderr.decode()


def same_config(cpp: list[list[Any]], python: list[list[Any]]) -> bool:
    if [entry[:2] for entry in cpp] != [entry[:2] for entry in python]:
        return False
    for (_, kind, got), (_, _, want) in zip(cpp, python):
        if kind == "float":
            a, b = float(got), float(want)
            if math.isnan(b):
                if not math.isnan(a):
                    return False
            elif a != b or math.copysign(1, a) != math.copysign(1, b):
                return False
        elif got != want:
            return False
    return True


def test_golden_cases_come_from_the_pinned_flwr(
    manifest: dict[str, Any], flwr_line: str, pinned_flwr_version: str
) -> None:
    assert flwr.__version__ == pinned_flwr_version  # the project venv has the primary pin
    assert manifest["flwr_version"] == flwr_line
    kinds = {case["kind"] for case in manifest["cases"]}
    assert kinds == {"info", "config", "run-config", "config-args", "node-config"}
    stages = {case["expect"].get("stage") for case in manifest["cases"]}
    assert {"config", "archive", "size", "fuse", "args", None} <= stages


def check_case(case: dict[str, Any], golden_dir: Path, fab_tool: Path) -> None:
    code, got, stderr = run_tool(fab_tool, golden_dir, case["kind"], *case["args"])
    want = case["expect"]
    if "divergence" in case:
        # Python accepts the input; flwr::fab rejects it on purpose, with a clear error.
        assert want["ok"], want
        assert code == 1 and not got["ok"] and got["code"] == "INVALID_ARGUMENT", got
        assert got["message"] and "\n" not in got["message"] and stderr
        return
    if want["ok"]:
        assert code == 0 and got["ok"], got
        assert same_config(got["config"], want["config"]), (got["config"], want["config"])
        for key in set(want) - {"config", "stage"}:
            assert got[key] == want[key], (key, got[key], want[key])
        if case["kind"] == "info":
            content = (golden_dir / case["args"][0]).read_bytes()
            assert got["fab_hash"] == hashlib.sha256(content).hexdigest()
        return
    assert code == 1 and not got["ok"], got
    assert got["message"] and "\n" not in got["message"], got
    assert got["message"] in stderr
    stage = want["stage"]
    if stage in EXACT_STAGES:
        assert got["code"] == "INVALID_ARGUMENT"
        assert got["message"] == want["message"]
    elif stage == "size":
        assert got["code"] == "INVALID_ARGUMENT"
        assert got["message"] == f"FAB size exceeds maximum allowed size of {FAB_MAX_SIZE} bytes."
    elif stage == "archive":  # INTERNAL on the pinned SuperLink
        assert got["code"] == "INVALID_ARGUMENT"
        assert got["message"].startswith("Invalid FAB: "), got
    else:
        assert want["error"] == "FileNotFoundError"
        assert got["code"] == "NOT_FOUND" and got["message"] == want["message"]


def test_every_case_matches_the_stock_flwr(
    manifest: dict[str, Any], golden_dir: Path, fab_tool: Path
) -> None:
    failures = []
    for case in manifest["cases"]:
        try:
            check_case(case, golden_dir, fab_tool)
        except AssertionError as err:
            failures.append(f"{case['name']}: {err}")
    assert not failures, "\n".join(failures)
    assert len(manifest["cases"]) > 100


@pytest.mark.parametrize(
    "name",
    [
        "fab_all_types",
        "raw_document_order",
        "args_update_replaces_nested",
        "run_config_unknown_key",
    ],
)
def test_key_cases_are_present_and_checked(
    name: str, manifest: dict[str, Any], golden_dir: Path, fab_tool: Path
) -> None:
    case = next(c for c in manifest["cases"] if c["name"] == name)
    check_case(case, golden_dir, fab_tool)


def test_all_types_reads_every_value_type(manifest: dict[str, Any]) -> None:
    case = next(c for c in manifest["cases"] if c["name"] == "fab_all_types")
    kinds = {kind for _, kind, _ in case["expect"]["config"]}
    assert kinds == {"int", "float", "bool", "str"}
    keys = [key for key, _, _ in case["expect"]["config"]]
    assert "model.optimizer.kind" in keys and "ключ.значение" in keys and "inline.b.c" in keys


def test_read_file_returns_the_entry_bytes(golden_dir: Path, fab_tool: Path) -> None:
    fab = golden_dir / "all_types.fab"
    with zipfile.ZipFile(fab) as archive:
        for name in ("demo_app/server_app.py", ".info/CONTENT", "pyproject.toml"):
            result = subprocess.run(
                [str(fab_tool), "read", str(fab), name], capture_output=True, check=True
            )
            assert result.stdout == archive.read(name)
    code, got, _ = run_tool(fab_tool, golden_dir, "read", str(fab), "nope.py")
    assert code == 1 and got["code"] == "NOT_FOUND"
    assert got["message"] == "There is no item named 'nope.py' in the archive"


def test_read_file_takes_the_last_duplicate(golden_dir: Path, fab_tool: Path) -> None:
    result = subprocess.run(
        [str(fab_tool), "read", str(golden_dir / "archive_duplicate.fab"), "pyproject.toml"],
        capture_output=True,
        check=True,
    )
    assert b"which = 'last'" in result.stdout


def test_zip_bomb_is_rejected(tmp_path: Path, golden_dir: Path, fab_tool: Path) -> None:
    """A small FAB that expands past 10x the size limit; Python would read it."""
    pyproject = (golden_dir / "raw_crlf.toml").read_bytes()
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pyproject.toml", pyproject)
        archive.writestr("data.bin", b"\0" * (10 * FAB_MAX_SIZE + 1))
    bomb = tmp_path / "bomb.fab"
    bomb.write_bytes(buffer.getvalue())
    assert bomb.stat().st_size < FAB_MAX_SIZE
    code, got, stderr = run_tool(fab_tool, tmp_path, "info", str(bomb))
    assert code == 1 and got["code"] == "INVALID_ARGUMENT" and "expands to more than" in stderr


def test_too_many_entries_are_rejected(tmp_path: Path, golden_dir: Path, fab_tool: Path) -> None:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("pyproject.toml", (golden_dir / "raw_crlf.toml").read_bytes())
        for i in range(65535):
            archive.writestr(f"{i:x}", b"")
    fab = tmp_path / "many.fab"
    fab.write_bytes(buffer.getvalue())
    code, got, _ = run_tool(fab_tool, tmp_path, "info", str(fab))
    assert code == 1 and "entries, more than 65535" in got["message"]


def test_bad_usage_exits_non_zero(fab_tool: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(fab_tool), "frobnicate"], capture_output=True, check=False)
    assert result.returncode == 2 and b"usage" in result.stderr
