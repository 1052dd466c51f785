"""C++ SuperNode (flower-supernode) against stock Python Flower and our C++ SuperLink, driven by
the stock `flwr run`: both SuperLinks, both isolation modes, mixed federations, faults."""

from __future__ import annotations

import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from harness import (
    APPS,
    VENV_BIN,
    Ports,
    Processes,
    base_env,
    flwr,
    free_port,
    list_runs,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the numpy test app (flwr may rewrite pyproject.toml)."""
    dst = tmp_path / "numpy_app"
    shutil.copytree(APPS / "numpy_app", dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


class Federation:
    """A SuperLink and SuperNodes of the given kinds on loopback."""

    def __init__(self, tmp_path: Path, build_dir: Path, link: str, database: str = ":flwr-in-memory:"):
        self.build_dir = build_dir
        self.flwr_home = tmp_path / "flwr_home"
        self.env = base_env(self.flwr_home)
        self.ports = Ports()
        write_cli_config(self.flwr_home, self.ports.control)
        self.procs = Processes(tmp_path, self.env)
        self.link_kind = link
        self.database = database
        self.node_ports: dict[str, int] = {}

    def start_link(self, name: str = "superlink") -> None:
        argv = superlink_argv(self.link_kind, self.ports, self.database, self.build_dir / "superlink/flower-superlink")
        proc = self.procs.start(name, argv)
        wait_for_port(self.ports.control, proc=proc)
        wait_for_port(self.ports.fleet, proc=proc)

    def start_node(self, name: str, kind: str, node_config: str, isolation: str = "subprocess", extra: list[str] | None = None):
        port = free_port()
        self.node_ports[name] = port
        argv = supernode_argv(self.ports.fleet, port, node_config, kind=kind, build_dir=self.build_dir, isolation=isolation)
        return self.procs.start(name, argv + (extra or []))

    def run(self, app_dir: Path, *config: str) -> str:
        args = ["run", str(app_dir), "--format", "json"]
        for c in config:
            args += ["--run-config", c]
        result = flwr(self.env, *args, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + self.procs.logs()
        return re.search(r'"run-id": "(\d+)"', result.stdout).group(1)

    def finish(self, run_id: str, timeout: float = 180) -> dict:
        try:
            return wait_for_status(self.env, run_id, "finished", timeout=timeout)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{self.procs.logs()}") from None

    def log(self, run_id: str) -> str:
        return flwr(self.env, "log", run_id, "--show", timeout=60).stdout


def wait_for_line(procs: Processes, name: str, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in procs.log(name):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} never logged {text!r}\n{procs.logs()}")


@pytest.mark.parametrize("link", ["python", "cpp"])
def test_cpp_supernodes_complete_a_run(link: str, tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """Two C++ SuperNodes (subprocess isolation: they start the stock Python ClientApp) with the
    stock Python SuperLink and with ours: `flwr run` completes and the ServerApp saw both."""
    fed = Federation(tmp_path, build_dir, link)
    try:
        fed.start_link()
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        run_id = fed.run(app_dir)
        run = fed.finish(run_id)
        assert run["status"] == "finished:completed", fed.procs.logs()
        assert "round 3: 2 replies, mean weight 3.000" in fed.log(run_id)
        log = fed.procs.log("node0")
        assert re.search(r"SuperNode ID: \d+", log), log
        assert "Receiving: train message" in log and "Sent successfully" in log, log
    finally:
        fed.procs.stop_all()


def test_mixed_federation_and_process_isolation(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """One stock Python SuperNode and two C++ ones — one of them in process isolation served by
    an external stock SuperExec (the Kubernetes sidecar layout) — train in the same run."""
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        fed.start_node("python-node", "python", "partition-id=0 num-partitions=3")
        fed.start_node("cpp-node", "cpp", "partition-id=1 num-partitions=3")
        fed.start_node("cpp-process-node", "cpp", "partition-id=2 num-partitions=3", isolation="process")
        port = fed.node_ports["cpp-process-node"]
        wait_for_port(port)
        fed.procs.start(
            "superexec",
            [str(VENV_BIN / "flower-superexec"), "--insecure", "--plugin-type", "clientapp",
             "--runtime-api-address", f"127.0.0.1:{port}"],
        )
        run_id = fed.run(app_dir, "min-nodes=3")
        run = fed.finish(run_id)
        assert run["status"] == "finished:completed", fed.procs.logs()
        assert "round 3: 3 replies, mean weight 3.000" in fed.log(run_id)
        for name in ("cpp-node", "cpp-process-node"):
            assert fed.procs.log(name).count("Sent successfully") == 3, fed.procs.log(name)
    finally:
        fed.procs.stop_all()
