"""Shared pytest fixtures: repository paths and the CMake build the tests run against."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "interop"))
from harness import IN_PROCESS, Line, pinned_versions  # noqa: E402  (the pinned Flower lines)

# Test modules that drive one line's stock modules in-process (its stubs, interceptors,
# servicers), with the version they import. Each is collected only by that line's interpreter;
# every other module only by the primary line's (.venv). scripts/test.sh runs pytest once per
# pinned line's venv.
IN_PROCESS_LINE_MODULES = {
    "interop/test_fleet_client.py": "1.36.0",  # gRPC Fleet: the stock 1.36 SuperLink serves it
    "interop/test_superlink_bad_input.py": "1.36.0",  # 1.36's gRPC node-auth interceptor
    "interop/test_supernode_bad_input.py": "1.36.0",  # a gRPC Fleet fake SuperLink, 1.36's stubs
    "transport/test_http_interop.py": "1.36.0",  # 1.36's FastAPI runtime server and client
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Collect a test module only in the venv of the line it imports (IN_PROCESS_LINE_MODULES)."""
    if not (collection_path.suffix == ".py" and collection_path.name.startswith("test_")):
        return None
    module = collection_path.relative_to(REPO_ROOT / "tests").as_posix()
    if IN_PROCESS_LINE_MODULES.get(module, pinned_versions()[0]) != IN_PROCESS.version:
        return True
    return None


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


@pytest.fixture(scope="module")
def flwr_line_python(flwr_line: str) -> Path:
    """The interpreter of the venv holding stock flwr `flwr_line` (scripts/setup.sh)."""
    return Line(flwr_line).venv_bin / "python"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test (or fixture) that takes `flwr_line` runs once per pinned Flower version."""
    if "flwr_line" in metafunc.fixturenames:
        metafunc.parametrize("flwr_line", pinned_versions(), scope="module")


@pytest.fixture(scope="session")
def pinned_flwr_version() -> str:
    """The primary Flower version pinned in flower-version.txt."""
    return pinned_versions()[0]
