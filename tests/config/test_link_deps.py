"""Each binary links only what it uses (core/CMakeLists.txt: libraries by who uses them).

The app processes (flwr-clientapp, flwr-serverapp) and the ClientApp's libtorch module link
flwr::app, never the server-side flwr::supercore: no SQLite, no gRPC, and the executables no
libtorch (the ClientApp's module loads it on demand; flwr-serverapp needs none). The servers never load libtorch. Checked twice: what the
dynamic loader maps (`ldd`), and what each binary links itself: its ELF NEEDED entries and
what the build asks the linker for (build.ninja's link line), since the toolchain's default
--as-needed would hide a needless library from `ldd`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SQLITE = ("libsqlite3", "libSQLiteCpp")
GRPC_AND_PROMETHEUS = ("libgrpc++", "libgrpc.", "libprometheus-cpp")
TORCH = ("libtorch", "libc10")

# Binary (path in the build tree) -> libraries it must not load (`ldd`: direct and indirect).
# The libtorch modules may load SQLite: Debian's libtorch brings it (through libgdal).
NOT_LOADED = {
    "clientapp/cli/flwr-clientapp": SQLITE + GRPC_AND_PROMETHEUS + TORCH,
    "serverapp/flwr-serverapp": SQLITE + GRPC_AND_PROMETHEUS + TORCH,
    "clientapp/cli/flwr-clientapp-cnn.so": GRPC_AND_PROMETHEUS,
    "superlink/flower-superlink": TORCH,
    "supernode/flower-supernode": TORCH,
    "superexec/flower-superexec": SQLITE + TORCH,
}
# Binary -> libraries it must not link itself (build.ninja's link line and ELF NEEDED).
NOT_LINKED = {binary: forbidden for binary, forbidden in NOT_LOADED.items()}
NOT_LINKED["clientapp/cli/flwr-clientapp-cnn.so"] = SQLITE + GRPC_AND_PROMETHEUS


def built(build_dir: Path, binary: str) -> Path:
    path = build_dir / binary
    if not path.exists():
        pytest.fail(f"{path} is missing: build the tree (scripts/build.sh)")
    return path


def loaded_libraries(path: Path) -> list[str]:
    """The shared libraries `ldd` resolves for `path` (direct and indirect)."""
    result = subprocess.run(
        ["ldd", str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "not found" not in result.stdout, result.stdout
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def needed_libraries(path: Path) -> list[str]:
    """The DT_NEEDED entries of `path` (the libraries it links itself)."""
    result = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", result.stdout)


def link_line(build_dir: Path, binary: str) -> str:
    """The LINK_LIBRARIES of `binary`'s link statement in build.ninja."""
    text = (build_dir / "build.ninja").read_text(encoding="utf-8")
    statement = re.search(
        rf"^build {re.escape(binary)}: .*?\n((?:  .*\n)*)", text, flags=re.MULTILINE
    )
    assert statement is not None, f"no link statement for {binary} in build.ninja"
    libraries = re.search(r"^  LINK_LIBRARIES = (.*)$", statement.group(1), flags=re.MULTILINE)
    return libraries.group(1) if libraries else ""


@pytest.mark.parametrize("binary", sorted(NOT_LOADED))
def test_binary_loads_no_library_it_does_not_use(build_dir: Path, binary: str) -> None:
    libraries = loaded_libraries(built(build_dir, binary))
    unwanted = [lib for lib in libraries if lib.startswith(NOT_LOADED[binary])]
    assert not unwanted, f"{binary} loads {unwanted}"


@pytest.mark.parametrize("binary", sorted(NOT_LINKED))
def test_binary_links_no_library_it_does_not_use(build_dir: Path, binary: str) -> None:
    needed = needed_libraries(built(build_dir, binary))
    on_link_line = [Path(item).name for item in link_line(build_dir, binary).split()]
    unwanted = [lib for lib in needed + on_link_line if lib.startswith(NOT_LINKED[binary])]
    assert not unwanted, f"{binary} is linked against {unwanted}"


def test_app_binaries_link_the_app_side_libraries_only(build_dir: Path) -> None:
    for binary in ("clientapp/cli/flwr-clientapp", "serverapp/flwr-serverapp"):
        built(build_dir, binary)
        names = [Path(item).name for item in link_line(build_dir, binary).split()]
        assert "libflwr_app.a" in names, names
        for server_side in ("libflwr_supercore.a", "libflwr_proto_grpc.a", "libflwr_metrics.a"):
            assert server_side not in names, f"{binary} is linked against {server_side}"
