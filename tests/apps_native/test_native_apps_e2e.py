"""The C++ `flwr-clientapp` and `flwr-serverapp` as drop-in task executables of stock Flower
1.36, on loopback with real processes:

* our flwr-clientapp first on PATH of stock SuperExecs (clientapp plugin) in front of stock
  `--isolation process` SuperNodes, driven by the stock Python ServerApp (stock FedAvg);
* our flwr-serverapp launched by the stock SuperExec (serverapp plugin) of the stock Python
  SuperLink and of our C++ SuperLink (`--isolation process`), with stock Python ClientApps;
* FABs without a native app given to our executables: the run fails cleanly with a clear
  reason, nothing hangs.

The test app is tests/apps/native_numpy_app: its Python apps and their native twins
("numpy-echo", "numpy-fedavg") compute the same numbers, so the assertions hold for both.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from harness import (  # noqa: E402
    VENV_BIN,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_superlink,
    wait_for_status,
    write_cli_config,
)

ROUNDS = 2
# With partition ids 0 and 1 the twins report weights 10 and 20, train_loss 1 and 2,
# eval_acc 0.5 and 0.6: the weighted means below tell FedAvg's weighting from a plain mean.
# Computed as flwr's aggregate_metricrecords does: sum of value * (weight / total weight).
TRAIN_LOSS = 1.0 * (10 / 30) + 2.0 * (20 / 30)
EVAL_ACC = 0.5 * (10 / 30) + (0.5 + 0.1 * 1) * (20 / 30)


def exe_dir(tmp_path: Path, build_dir: Path, *names: str) -> Path:
    """A directory holding only our executables `names`, to put first on PATH."""
    directory = tmp_path / "native_bin"
    directory.mkdir(exist_ok=True)
    targets = {"flwr-clientapp": build_dir / "clientapp/cli/flwr-clientapp",
               "flwr-serverapp": build_dir / "serverapp/flwr-serverapp"}
    for name in names:
        if not targets[name].exists():
            pytest.fail(f"{targets[name]} is not built")
        (directory / name).symlink_to(targets[name])
    return directory


def copy_app(tmp_path: Path, name: str = "native_numpy_app", drop_native: bool = False) -> Path:
    dst = copy_test_app("native_numpy_app", tmp_path / name)
    if drop_native:
        pyproject = dst / "pyproject.toml"
        text = pyproject.read_text()
        text = re.sub(r"\[tool\.flwr\.app\.native\]\n(.*\n)*?\n", "", text)
        pyproject.write_text(text)
        assert "tool.flwr.app.native" not in text
    return dst


def start_run(env: dict[str, str], app_dir: Path, *extra: str) -> str:
    result = flwr(env, "run", str(app_dir), "--format", "json", *extra, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return re.search(r'"run-id": "(\d+)"', result.stdout).group(1)


def run_log(env: dict[str, str], run_id: str) -> str:
    log = flwr(env, "log", run_id, "--show", timeout=60)
    return log.stdout + log.stderr


def start_link(procs: Processes, kind: str, ports: Ports, build_dir: Path, isolation: str | None,
               env: dict[str, str] | None = None) -> None:
    argv = superlink_argv(kind, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
    if isolation:
        argv += ["--isolation", isolation]
    wait_for_superlink(ports, procs.start("superlink", argv, env=env))


def start_process_isolated_nodes(procs: Processes, ports: Ports, clientapp_path: str, nodes: int = 2) -> None:
    """Stock SuperNodes with `--isolation process`, each served by its own stock SuperExec
    whose PATH is `clientapp_path` (so it launches whichever flwr-clientapp comes first)."""
    for i in range(nodes):
        appio = free_port()
        argv = supernode_argv(ports.fleet_for(), appio, f"partition-id={i} num-partitions={nodes}")
        node = procs.start(f"supernode{i}", argv + ["--isolation", "process"])
        wait_for_port(appio, proc=node)
        procs.start(f"superexec{i}", [str(VENV_BIN / "flower-superexec"), "--insecure", "--plugin-type",
                                      "clientapp", "--runtime-api-address", f"127.0.0.1:{appio}"],
                    env={"PATH": clientapp_path})


def start_subprocess_nodes(procs: Processes, ports: Ports, nodes: int = 2) -> None:
    for i in range(nodes):
        procs.start(f"supernode{i}", supernode_argv(ports.fleet_for(), free_port(),
                                                    f"partition-id={i} num-partitions={nodes}"))


def assert_fedavg_log(log: str) -> None:
    """What any FedAvg (stock or ours) logs for the twins over ROUNDS rounds."""
    assert f"[ROUND {ROUNDS}/{ROUNDS}]" in log, log
    assert "aggregate_train: Received 2 results and 0 failures" in log, log
    assert f"Aggregated MetricRecord: {{'train_loss': {TRAIN_LOSS!r}}}" in log, log
    assert repr(EVAL_ACC) in log, log


def test_cpp_clientapp_under_stock_superexec(tmp_path: Path, build_dir: Path) -> None:
    """(a) Stock SuperLink + stock `--isolation process` SuperNodes + stock SuperExecs whose
    PATH starts with our flwr-clientapp: the stock Python ServerApp (stock FedAvg) completes
    and aggregates exactly what our numpy-echo replied."""
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    write_cli_config(tmp_path / "flwr_home", ports.control_for())
    procs = Processes(tmp_path, env)
    native = exe_dir(tmp_path, build_dir, "flwr-clientapp")
    try:
        start_link(procs, "python", ports, build_dir, None)
        start_process_isolated_nodes(procs, ports, f"{native}:{env['PATH']}")
        run_id = start_run(env, copy_app(tmp_path))
        run = wait_for_status(env, run_id, "finished", timeout=150)
        assert run["status"] == "finished:completed", (run, procs.logs())
        log = run_log(env, run_id)
        assert_fedavg_log(log)
        assert f"final mean weight {float(ROUNDS):.3f}" in log, log
        # The ClientApp tasks ran our executable (its output goes to the SuperExec's log).
        for i in range(2):
            assert "Running native ClientApp 'numpy-echo'" in procs.log(f"superexec{i}")
    finally:
        procs.stop_all()


@pytest.mark.parametrize("kind", ["python", "cpp"])
def test_cpp_serverapp_with_stock_clientapps(kind: str, tmp_path: Path, build_dir: Path) -> None:
    """(b) Our flwr-serverapp, launched by a stock SuperExec (serverapp plugin) — the stock
    SuperLink's own in subprocess isolation, or an external one in front of our C++ SuperLink
    with `--isolation process` — runs numpy-fedavg with stock Python ClientApps to completion;
    the run log shows the stock FedAvg lines and numbers; the final model is saved."""
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    write_cli_config(tmp_path / "flwr_home", ports.control_for())
    procs = Processes(tmp_path, env)
    native = exe_dir(tmp_path, build_dir, "flwr-serverapp")
    native_path = f"{native}:{env['PATH']}"
    artifacts = tmp_path / "artifacts"
    try:
        if kind == "python":
            start_link(procs, "python", ports, build_dir, None, env={"PATH": native_path})
        else:
            start_link(procs, "cpp", ports, build_dir, "process")
            procs.start("superexec", [str(VENV_BIN / "flower-superexec"), "--insecure", "--plugin-type",
                                      "serverapp", "--runtime-api-address", f"127.0.0.1:{ports.runtime}"],
                        env={"PATH": native_path})
        start_subprocess_nodes(procs, ports)
        run_id = start_run(env, copy_app(tmp_path), "--run-config", f"artifacts-dir='{artifacts}'")
        run = wait_for_status(env, run_id, "finished", timeout=150)
        log = run_log(env, run_id)
        assert run["status"] == "finished:completed", (run, log, procs.logs())
        assert "Running native ServerApp 'numpy-fedavg'" in log, log
        assert_fedavg_log(log)
        assert f"Round {ROUNDS}/{ROUNDS}: train [train_loss 1.6667]" in log, log
        final = np.load(artifacts / "final_model.npz")
        assert list(final.keys()) == ["w"]
        assert final["w"].dtype == np.float32 and final["w"].shape == (100,)
        assert np.all(final["w"] == np.float32(ROUNDS))
    finally:
        procs.stop_all()


def test_non_native_fab_fails_cleanly_in_cpp_serverapp(tmp_path: Path, build_dir: Path) -> None:
    """(c) A FAB without [tool.flwr.app.native] under our flwr-serverapp: the run ends
    finished:failed at once, with a reason naming the available native ServerApps."""
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    write_cli_config(tmp_path / "flwr_home", ports.control_for())
    procs = Processes(tmp_path, env)
    native = exe_dir(tmp_path, build_dir, "flwr-serverapp")
    try:
        start_link(procs, "python", ports, build_dir, None, env={"PATH": f"{native}:{env['PATH']}"})
        run_id = start_run(env, copy_app(tmp_path, drop_native=True))
        run = wait_for_status(env, run_id, "finished", timeout=60)
        log = run_log(env, run_id)
        assert run["status"] == "finished:failed", (run, log)
        assert "selects no native ServerApp" in run["status-details"] + log, (run, log)
        assert "numpy-fedavg" in log, log
        assert "Exit Code: 201" in log, log
    finally:
        procs.stop_all()


def test_non_native_fab_gets_error_replies_from_cpp_clientapp(tmp_path: Path, build_dir: Path) -> None:
    """(c) A FAB without [tool.flwr.app.native] under our flwr-clientapp: each instruction
    gets a LOAD_CLIENT_APP_EXCEPTION error reply naming the available native ClientApps, the
    stock FedAvg sees failures, and the run still finishes (no hang)."""
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    write_cli_config(tmp_path / "flwr_home", ports.control_for())
    procs = Processes(tmp_path, env)
    native = exe_dir(tmp_path, build_dir, "flwr-clientapp")
    try:
        start_link(procs, "python", ports, build_dir, None)
        start_process_isolated_nodes(procs, ports, f"{native}:{env['PATH']}")
        run_id = start_run(env, copy_app(tmp_path, drop_native=True), "--run-config", "num-server-rounds=1")
        run = wait_for_status(env, run_id, "finished", timeout=90)
        log = run_log(env, run_id)
        assert "aggregate_train: Received 0 results and 2 failures" in log, log
        assert "An exception was raised when attempting to load `ClientApp`" in log, log
        assert "selects no native ClientApp" in log and "numpy-echo" in log, log
        assert run["status"] in ("finished:completed", "finished:failed"), run
    finally:
        procs.stop_all()
