"""The committed C++ mirrors of the pinned flwr are current: regenerating them changes nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

GENERATED = ("flower_error_catalog.inc", "flower_version.inc", "flower_versions.inc")


def test_generated_files_are_current(repo_root: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "gen_error_catalog.py"), "--out-dir",
         str(tmp_path)],
        check=True,
    )
    for name in GENERATED:
        committed = (repo_root / "core" / "src" / name).read_text()
        assert (tmp_path / name).read_text() == committed, (
            f"core/src/{name} is stale: run scripts/gen_error_catalog.py"
        )


def test_catalog_covers_every_api_error_code(repo_root: Path) -> None:
    """Every code of the primary line, in code order (the other lines' codes are checked by
    regenerating, which reads their venvs)."""
    from flwr.supercore.error.base import ApiErrorCode
    from flwr.supercore.error.catalog import API_ERROR_MAP

    text = (repo_root / "core" / "src" / "flower_error_catalog.inc").read_text()
    codes = [int(m) for m in re.findall(r"^FLWR_ERROR_SPEC\(\w+, (\d+),", text, re.M)]
    assert codes == sorted(set(codes))
    assert {int(c) for c in API_ERROR_MAP} <= set(codes)
    assert {int(c) for c in ApiErrorCode} <= set(codes)


def test_header_names_every_code(repo_root: Path) -> None:
    """flower_error.h has a constant per code (flower_error.cc static_asserts the values)."""
    from flwr.supercore.error.base import ApiErrorCode

    header = (repo_root / "core" / "include" / "flwr" / "core" / "flower_error.h").read_text()
    constants = dict(
        (int(v), n) for n, v in re.findall(r"inline constexpr int (k\w+) = (\d+);", header)
    )
    for code in ApiErrorCode:
        camel = "k" + "".join(p.capitalize() for p in code.name.lower().split("_"))
        assert constants.get(int(code)) == camel


def test_version_inc_is_the_pinned_version(repo_root: Path, pinned_flwr_version: str) -> None:
    text = (repo_root / "core" / "src" / "flower_version.inc").read_text()
    assert text.splitlines()[-1] == f'"{pinned_flwr_version}"'
