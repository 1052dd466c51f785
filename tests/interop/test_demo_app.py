"""The demo app (demo/: pyproject.toml + cifar_app/) end to end on a synthetic CIFAR-format
set, driven by the stock `flwr run`:

* all C++: our SuperLink runs the native FedAvg ServerApp, our SuperNodes the libtorch
  ClientApp; accuracy rises well above chance and the final model loads in PyTorch;
* the stock Python SuperLink and ServerApp (stock FedAvg) with a mixed federation: a C++
  SuperNode running the C++ ClientApp, a stock SuperNode running the Python ClientApp, and a
  stock SuperNode (`--isolation process`) whose external executor (our flower-superexec)
  runs the C++ ClientApp — one model, trained by C++ and Python clients together.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import (
    DEMO_APP,
    REPO_ROOT,
    VENV_BIN,
    Ports,
    Processes,
    base_env,
    copy_demo_app,
    flwr,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_superlink,
    wait_for_status,
    write_cli_config,
)


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "cifar"
    subprocess.run([str(VENV_BIN / "python"), str(REPO_ROOT / "scripts/gen_synthetic_cifar.py"), "--out", str(out),
                    "--train-per-batch", "600", "--test", "100"], check=True, capture_output=True)
    return out


@pytest.fixture
def demo_app(tmp_path: Path) -> Path:
    return copy_demo_app(tmp_path / "app")


def start(tmp_path: Path, build_dir: Path, link: str):
    env = base_env(tmp_path / "flwr_home")
    env["OMP_NUM_THREADS"] = "1"
    ports = Ports()
    write_cli_config(tmp_path / "flwr_home", ports.control_for())
    procs = Processes(tmp_path, env)
    proc = procs.start("superlink", superlink_argv(link, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink"))
    wait_for_superlink(ports, proc)
    return procs, env, ports


def node_config(i: int, n: int, data: Path) -> str:
    return f'partition-id={i} num-partitions={n} data-path="{data}"'


def run_to_end(procs: Processes, env, app: Path, config: str) -> tuple[str, str]:
    result = flwr(env, "run", str(app), "--run-config", config, "--format", "json", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
    run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
    try:
        run = wait_for_status(env, run_id, "finished", timeout=400)
    except TimeoutError as e:
        raise AssertionError(f"{e}\n{procs.logs()}") from None
    log = flwr(env, "log", run_id, "--show", timeout=60).stdout
    assert run["status"] == "finished:completed", log + procs.logs()
    return run_id, log


def test_all_cpp_federation_learns(tmp_path: Path, build_dir: Path, synthetic_data: Path, demo_app: Path) -> None:
    import torch

    procs, env, ports = start(tmp_path, build_dir, "cpp")
    try:
        for i in range(2):
            procs.start(f"node{i}", supernode_argv(ports.fleet_for(), free_port(), node_config(i, 2, synthetic_data),
                                                   kind="cpp", build_dir=build_dir))
        run_id, log = run_to_end(procs, env, demo_app, "num-server-rounds=3 fraction-fit=1.0 lr=0.01")
        acc = [float(a) for a in re.findall(r"Round \d/3: .*eval_acc ([0-9.]+)", log)]
        assert len(acc) == 3, log
        # Ten classes: chance is 0.1.
        assert acc[-1] > 0.4 and acc[-1] > acc[0], acc
        assert "aggregate_train: Received 2 results and 0 failures" in log
        # The final model: .pt loads in PyTorch into the demo's Net, equal to the .npz.
        artifacts = tmp_path / "flwr_home" / "artifacts" / run_id
        state = torch.load(artifacts / "final_model.pt")
        npz = np.load(artifacts / "final_model.npz")
        sys.path.insert(0, str(DEMO_APP))
        from cifar_app.task import Net

        Net().load_state_dict(state)
        assert list(state) == list(npz.files)
        for name in npz.files:
            np.testing.assert_array_equal(state[name].numpy(), npz[name])
        # history.json: the same per-round numbers the log shows, and the rounds' times.
        history = json.loads((artifacts / "history.json").read_text())["rounds"]
        assert [r["round"] for r in history] == [1, 2, 3]
        assert [r["evaluate"]["eval_acc"] for r in history] == pytest.approx(acc, abs=1e-4)
        assert all(r["seconds"] > 0 and r["train"]["train_loss"] > 0 for r in history), history
    finally:
        procs.stop_all()


def test_stock_serverapp_with_mixed_cpp_and_python_clientapps(
    tmp_path: Path, build_dir: Path, synthetic_data: Path, demo_app: Path
) -> None:
    procs, env, ports = start(tmp_path, build_dir, "python")
    try:
        n = 3
        procs.start("cpp-node", supernode_argv(ports.fleet_for(), free_port(), node_config(0, n, synthetic_data),
                                               kind="cpp", build_dir=build_dir))
        procs.start("python-node", supernode_argv(ports.fleet_for(), free_port(), node_config(1, n, synthetic_data)))
        appio = free_port()
        procs.start("python-process-node", supernode_argv(ports.fleet_for(), appio, node_config(2, n, synthetic_data),
                                                          isolation="process"))
        wait_for_port(appio)
        native_bin = tmp_path / "native_bin"
        native_bin.mkdir()
        (native_bin / "flwr-clientapp").symlink_to(build_dir / "clientapp/cli/flwr-clientapp")
        procs.start("cpp-superexec",
                    [str(build_dir / "superexec/flower-superexec"), "--insecure", "--plugin-type", "clientapp",
                     "--runtime-api-address", f"127.0.0.1:{appio}"],
                    env={"PATH": f"{native_bin}:{env['PATH']}"})
        run_id, log = run_to_end(procs, env, demo_app,
                                 f"num-server-rounds=2 fraction-fit=1.0 min-available-nodes={n} lr=0.01")
        # The stock FedAvg of the Python ServerApp aggregated all three clients, twice.
        assert log.count(f"aggregate_train: Received {n} results and 0 failures") == 2, log
        assert log.count(f"aggregate_evaluate: Received {n} results and 0 failures") == 2, log
        # C++ ClientApps ran for the C++ node and behind the stock node's external executor; the
        # Python ClientApp ran for the other stock node.
        assert "Start `flwr-clientapp` process" in procs.log("python-node")
        for name in ("cpp-node", "cpp-superexec"):
            assert "cifar-cnn" in procs.log(name), procs.log(name)
        # The Python twin writes the same history.json as the native ServerApp.
        history = json.loads((tmp_path / "flwr_home" / "artifacts" / run_id / "history.json").read_text())
        assert [r["round"] for r in history["rounds"]] == [1, 2]
        assert all(0 <= r["evaluate"]["eval_acc"] <= 1 and r["seconds"] > 0 for r in history["rounds"])
    finally:
        procs.stop_all()
