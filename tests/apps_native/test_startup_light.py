"""Native apps start light: flwr-clientapp and flwr-serverapp do not link libtorch; the
libtorch ClientApp is the module flwr-clientapp-cnn.so beside flwr-clientapp, loaded only when
a FAB selects it (core/native_module.h); flwr-serverapp needs no libtorch at all. A real flwr-clientapp runs one task against
a fake Runtime API (fake_runtime_api.py), whose hook reads the process's /proc/<pid>/maps while
it still runs: numpy-echo never maps libtorch, cifar-cnn does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fake_runtime_api import TOKEN, FakeRuntimeApi, make_fab


def ldd(path: Path) -> str:
    if not path.is_file():
        pytest.fail(f"{path} is not built")
    return subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout


def test_app_executables_do_not_link_libtorch_the_clientapp_module_does(build_dir: Path) -> None:
    assert "libtorch" not in ldd(build_dir / "clientapp/cli/flwr-clientapp")
    assert "libtorch" not in ldd(build_dir / "serverapp/flwr-serverapp")
    assert "libtorch" in ldd(build_dir / "clientapp/cli/flwr-clientapp-cnn.so")


def maps_during_task(build_dir: Path, native_app: str) -> tuple[str, str]:
    """The maps of flwr-clientapp running `native_app` on one "query" instruction, read when
    it pushes its task output, and that output's sub_status."""
    exe = build_dir / "clientapp/cli/flwr-clientapp"
    maps: list[str] = []
    proc: subprocess.Popen | None = None

    def read_maps() -> None:
        maps.append(Path(f"/proc/{proc.pid}/maps").read_text())

    with FakeRuntimeApi(make_fab(native_app), on_task_output=read_maps) as api:
        proc = subprocess.Popen([str(exe), "--insecure", "--runtime-api-address", api.address,
                                 "--token", TOKEN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=60)
    assert api.task_output is not None and maps, out
    return maps[0], out


def test_numpy_echo_never_maps_libtorch(build_dir: Path) -> None:
    maps, out = maps_during_task(build_dir, "numpy-echo")
    assert "Running native ClientApp 'numpy-echo'" in out, out
    assert "libtorch" not in maps
    assert "flwr-clientapp-cnn.so" not in maps


def test_cifar_cnn_loads_its_module_and_libtorch(build_dir: Path) -> None:
    maps, out = maps_during_task(build_dir, "cifar-cnn")
    assert "Running native ClientApp 'cifar-cnn'" in out, out
    assert "flwr-clientapp-cnn.so" in maps
    assert "libtorch" in maps
