"""Shared pytest fixtures: repository paths and the CMake build the tests run against."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def build_dir() -> Path:
    """The CMake build tree (scripts/test.sh builds it; FLWR_BUILD_DIR overrides)."""
    path = Path(os.environ.get("FLWR_BUILD_DIR", REPO_ROOT / "build"))
    if not (path / "build.ninja").exists():
        pytest.fail(f"no CMake build in {path}: run scripts/test.sh (or set FLWR_BUILD_DIR)")
    return path


@pytest.fixture(scope="session")
def pinned_flwr_version() -> str:
    """The Flower version pinned in flower-version.txt (the one place it is pinned)."""
    for line in (REPO_ROOT / "flower-version.txt").read_text().splitlines():
        if line.startswith("flwr=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("flower-version.txt has no flwr== line")
