"""A legacy ServerApp (tests/apps/legacy_cifar_app: `flwr.server.ServerApp(server_fn=...)` with
the stock `flwr.server.strategy.FedAvg`) training the demo CNN with the native C++ ClientApp,
which answers the legacy messages (get_parameters, FitIns, EvaluateIns) as a NumPyClient does,
started by the stock `flwr run` on a synthetic CIFAR-format set:

* our C++ SuperLink (its stock Python flwr-serverapp runs the legacy ServerApp) and two C++
  SuperNodes running the native ClientApp;
* the stock Python SuperLink with a C++ SuperNode (native ClientApp) and a stock SuperNode
  running the app's Python NumPyClient: the legacy FedAvg averages C++ and Python updates.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from harness import DEMO_APP, Processes, copy_test_app, free_port, supernode_argv
from test_demo_app import node_config, run_to_end, start, synthetic_data  # noqa: F401

ROUNDS = 2


@pytest.fixture
def legacy_app(tmp_path: Path) -> Path:
    """The legacy app, with the demo's cifar_app package beside it (its Python ClientApp)."""
    dst = copy_test_app("legacy_cifar_app", tmp_path / "legacy_app")
    shutil.copytree(DEMO_APP / "cifar_app", dst / "cifar_app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.toml"))
    return dst


def distributed_losses(log: str) -> list[float]:
    """The legacy Server's summary: 'History (loss, distributed):' then one line per round."""
    summary = log[log.rindex("History (loss, distributed):"):]
    return [float(x) for x in re.findall(r"round \d+: ([-+0-9.eE]+|nan|inf)", summary)][:ROUNDS]


def assert_legacy_rounds(log: str, procs: Processes) -> None:
    (procs.log_dir / "serverapp.log").write_text(log)  # `flwr log`, kept for a failed run
    # The strategy has no initial parameters: the legacy Server asked a client for them.
    assert "Requesting initial parameters from one random client" in log, log
    assert "Received initial parameters from one random client" in log, log + procs.logs()
    assert log.count("aggregate_fit: received 2 results and 0 failures") == ROUNDS, log + procs.logs()
    assert log.count("aggregate_evaluate: received 2 results and 0 failures") == ROUNDS, log
    assert f"Run finished {ROUNDS} round(s)" in log, log
    losses = distributed_losses(log)
    assert len(losses) == ROUNDS, log
    assert all(math.isfinite(x) and x > 0 for x in losses), losses
    assert losses[-1] < losses[0], losses
    # The weighted eval_acc of the last round (the metrics aggregation fn saw the app's names).
    assert "History (metrics, distributed, evaluate):" in log and "'eval_acc'" in log, log


def test_legacy_serverapp_with_cpp_superlink_and_native_clientapps(
    tmp_path: Path, build_dir: Path, synthetic_data: Path, legacy_app: Path  # noqa: F811
) -> None:
    procs, env, ports = start(tmp_path, build_dir, "cpp")
    try:
        for i in range(2):
            procs.start(f"node{i}", supernode_argv(ports.fleet_for(), free_port(), node_config(i, 2, synthetic_data),
                                                   kind="cpp", build_dir=build_dir))
        _, log = run_to_end(procs, env, legacy_app, f"num-server-rounds={ROUNDS} lr=0.01")
        assert_legacy_rounds(log, procs)
        for i in range(2):
            assert "Running native ClientApp 'cifar-cnn'" in procs.log(f"node{i}"), procs.log(f"node{i}")
    finally:
        procs.stop_all()


def test_legacy_serverapp_with_stock_superlink_cpp_and_python_clientapps(
    tmp_path: Path, build_dir: Path, synthetic_data: Path, legacy_app: Path  # noqa: F811
) -> None:
    procs, env, ports = start(tmp_path, build_dir, "python")
    try:
        procs.start("cpp-node", supernode_argv(ports.fleet_for(), free_port(), node_config(0, 2, synthetic_data),
                                               kind="cpp", build_dir=build_dir))
        procs.start("python-node", supernode_argv(ports.fleet_for(), free_port(), node_config(1, 2, synthetic_data)))
        _, log = run_to_end(procs, env, legacy_app, f"num-server-rounds={ROUNDS} lr=0.01")
        assert_legacy_rounds(log, procs)
        assert "Running native ClientApp 'cifar-cnn'" in procs.log("cpp-node"), procs.log("cpp-node")
        assert "Start `flwr-clientapp` process" in procs.log("python-node"), procs.log("python-node")
    finally:
        procs.stop_all()
