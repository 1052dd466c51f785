"""C++ SuperNode (flower-supernode) against stock Python Flower and our C++ SuperLink, driven by
the stock `flwr run`: both SuperLinks, both isolation modes, mixed federations, faults."""

from __future__ import annotations

import re
import subprocess
import signal
import time
from pathlib import Path

import pytest

from harness import (
    LINES,
    VENV_BIN,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    list_runs,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_superlink,
    wait_for_status,
    write_cli_config,
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the numpy test app (flwr may rewrite pyproject.toml)."""
    return copy_test_app("numpy_app", tmp_path / "numpy_app")


class Federation:
    """A SuperLink and SuperNodes of the given kinds on loopback."""

    def __init__(self, tmp_path: Path, build_dir: Path, link: str, database: str = ":flwr-in-memory:"):
        self.build_dir = build_dir
        self.flwr_home = tmp_path / "flwr_home"
        self.env = base_env(self.flwr_home)
        self.ports = Ports()
        write_cli_config(self.flwr_home, self.ports.control_for())
        self.procs = Processes(tmp_path, self.env)
        self.link_kind = link
        self.database = database
        self.node_ports: dict[str, int] = {}

    def start_link(self, name: str = "superlink") -> None:
        argv = superlink_argv(self.link_kind, self.ports, self.database, self.build_dir / "superlink/flower-superlink")
        wait_for_superlink(self.ports, self.procs.start(name, argv))

    def start_node(self, name: str, kind: str, node_config: str, isolation: str = "subprocess", extra: list[str] | None = None):
        port = free_port()
        self.node_ports[name] = port
        argv = supernode_argv(self.ports.fleet_for(), port, node_config, kind=kind, build_dir=self.build_dir, isolation=isolation)
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
    """One stock Python SuperNode and three C++ ones — two of them in process isolation, served
    by an external executor (the Kubernetes sidecar layout): the stock `flower-superexec` and
    ours — train in the same run."""
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        fed.start_node("python-node", "python", "partition-id=0 num-partitions=4")
        fed.start_node("cpp-node", "cpp", "partition-id=1 num-partitions=4")
        executors = {
            "stock": str(VENV_BIN / "flower-superexec"),
            "cpp": str(build_dir / "superexec" / "flower-superexec"),
        }
        for i, (kind, program) in enumerate(executors.items()):
            name = f"cpp-process-node-{kind}-superexec"
            fed.start_node(name, "cpp", f"partition-id={2 + i} num-partitions=4", isolation="process")
            port = fed.node_ports[name]
            wait_for_port(port)
            fed.procs.start(f"{kind}-superexec", [program, "--insecure", "--plugin-type", "clientapp",
                                                  "--runtime-api-address", f"127.0.0.1:{port}"])
        run_id = fed.run(app_dir, "min-nodes=4")
        run = fed.finish(run_id)
        assert run["status"] == "finished:completed", fed.procs.logs()
        assert "round 3: 4 replies, mean weight 3.000" in fed.log(run_id)
        for name in ("cpp-node", "cpp-process-node-stock-superexec", "cpp-process-node-cpp-superexec"):
            assert fed.procs.log(name).count("Sent successfully") == 3, fed.procs.log(name)
    finally:
        fed.procs.stop_all()


@pytest.fixture
def faulty_app(tmp_path: Path) -> Path:
    return copy_test_app("faulty_app", tmp_path / "faulty_app")


@pytest.mark.parametrize(
    "fault, error",
    [
        ("crash", "8:ClientApp stopped responding."),
        ("raise", "2:<class 'ValueError'>:<'injected failure'>"),
    ],
)
def test_clientapp_failure_gives_an_error_reply_and_the_node_serves_the_next_round(
    fault: str, error: str, tmp_path: Path, build_dir: Path, faulty_app: Path
) -> None:
    """The ClientApp of node 0 dies (os._exit) or raises in round 2: the ServerApp gets an error
    reply for that node — for a crash at once, not after the 60 s task lease — and both nodes
    train in round 3."""
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        started = time.monotonic()
        run_id = fed.run(faulty_app, "fault-round=2", f'fault="{fault}"')
        run = fed.finish(run_id, timeout=120)
        assert run["status"] == "finished:completed", fed.procs.logs()
        log = fed.log(run_id)
        assert f"round 2: 1 ok, errors [{error!r}]" in log, log
        assert "round 3: 2 ok, errors []" in log, log
        assert time.monotonic() - started < 50, "the crash was detected by the lease, not at once"
        if fault == "crash":
            assert "The clientapp process exited with status 3" in fed.procs.log("node0")
        assert fed.procs.log("node0").count("Sent successfully") == 3
    finally:
        fed.procs.stop_all()


def test_node_waits_for_a_superlink_that_is_not_up_yet(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        wait_for_line(fed.procs, "node0", "Connection attempt failed, retrying in")
        fed.start_link()
        wait_for_line(fed.procs, "node0", "SuperNode ID:", timeout=60)
        assert "Connection successful after" in fed.procs.log("node0")
        run = fed.finish(fed.run(app_dir))
        assert run["status"] == "finished:completed", fed.procs.logs()
    finally:
        fed.procs.stop_all()


@pytest.mark.parametrize("link", ["python", "cpp"])
@pytest.mark.parametrize("line", LINES, ids=str)
def test_node_given_the_stock_args_speaks_the_fleet_api_its_superlink_serves(
        line: Line, link: str, tmp_path: Path, build_dir: Path) -> None:
    """The stock SuperNode of each line names no transport (1.36: gRPC to :9092, 1.42: HTTP to
    :8000); ours, given the same args, registers over the Fleet API the SuperLink at
    --superlink serves: the stock one of the line or ours."""
    ports = Ports()
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home", line))
    try:
        link_argv = superlink_argv(link, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)
        wait_for_superlink(ports, procs.start("superlink", link_argv), line)
        procs.start("node", [str(build_dir / "supernode/flower-supernode"), "--insecure", "--superlink",
                             f"127.0.0.1:{ports.fleet_for(line)}", "--isolation", "process",
                             "--port", str(free_port())])
        wait_for_line(procs, "node", "SuperNode ID:")
        assert ("serves the gRPC Fleet API" in procs.log("node")) != line.http_fleet, procs.logs()
    finally:
        procs.stop_all()


def test_node_reconnects_to_a_restarted_sqlite_superlink(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """SIGKILL the SQLite SuperLink mid-run and restart it once the nodes notice: they keep
    their IDs and reconnect; the interrupted run ends (it continues if its ServerApp survived,
    else fails cleanly), and a new run completes with the same nodes."""
    fed = Federation(tmp_path, build_dir, "cpp", database=str(tmp_path / "state.db"))
    try:
        fed.start_link()
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        first = fed.run(app_dir, "round-sleep=3.0")
        wait_for_line(fed.procs, "node0", "Sent successfully", timeout=60)
        node_id = re.search(r"SuperNode ID: (\d+)", fed.procs.log("node0")).group(1)
        fed.procs.stop("superlink", signal.SIGKILL)
        wait_for_line(fed.procs, "node0", "Connection attempt failed, retrying in", timeout=30)
        fed.start_link("superlink-restarted")
        wait_for_line(fed.procs, "node0", "Connection successful after", timeout=60)
        assert fed.finish(first, timeout=150)["status"] in ("finished:completed", "finished:failed")
        run = fed.finish(fed.run(app_dir))
        assert run["status"] == "finished:completed", fed.procs.logs()
        log = fed.procs.log("node0")
        assert log.count("SuperNode ID:") == 1 and node_id in log
    finally:
        fed.procs.stop_all()


def test_node_rejected_by_a_restarted_in_memory_superlink_exits_cleanly(tmp_path: Path, build_dir: Path) -> None:
    """An in-memory SuperLink forgets its nodes: the node's next call is UNAUTHENTICATED and it
    shuts down gracefully (exit 0), as the stock SuperNode does; a supervisor restarts it."""
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        node = fed.start_node("node0", "cpp", "partition-id=0 num-partitions=1")
        wait_for_line(fed.procs, "node0", "SuperNode ID:")
        fed.procs.stop("superlink", signal.SIGKILL)
        fed.start_link("superlink-restarted")
        assert node.wait(timeout=60) == 0, fed.procs.log("node0")
        assert "SuperNode terminated gracefully." in fed.procs.log("node0")
    finally:
        fed.procs.stop_all()


def test_hung_clientapp_fails_at_its_lease_and_is_terminated(tmp_path: Path, build_dir: Path, faulty_app: Path) -> None:
    """The ClientApp of node 0 hangs in round 2 (SIGSTOP: its heartbeats stop too). Its task
    fails when the 60 s lease lapses, the ServerApp gets the crash reply, both nodes train in
    round 3, and the node terminates the hung process (SIGTERM, then SIGKILL)."""
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        run_id = fed.run(faulty_app, "fault-round=2", 'fault="hang"')
        run = fed.finish(run_id, timeout=240)
        assert run["status"] == "finished:completed", fed.procs.logs()
        log = fed.log(run_id)
        assert "round 2: 1 ok, errors ['8:ClientApp stopped responding.']" in log, log
        assert "round 3: 2 ok, errors []" in log, log
        wait_for_line(fed.procs, "node0", "it outlived its task", timeout=30)
        port = fed.node_ports["node0"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the round-3 ClientApp exits by itself
            leftovers = subprocess.run(["pgrep", "-f", f"runtime-api-address 127.0.0.1:{port}"], capture_output=True, text=True)
            if not leftovers.stdout.strip():
                break
            time.sleep(0.5)
        assert leftovers.stdout.strip() == "", "the hung ClientApp outlived its task"
        assert dict(fed.procs.procs)["node0"].poll() is None
    finally:
        fed.procs.stop_all()


def test_sigterm_mid_round_stops_the_node_and_its_clientapp(tmp_path: Path, build_dir: Path, faulty_app: Path) -> None:
    fed = Federation(tmp_path, build_dir, "cpp")
    try:
        fed.start_link()
        for i in range(2):
            fed.start_node(f"node{i}", "cpp", f"partition-id={i} num-partitions=2")
        fed.run(faulty_app, "fault-round=1", 'fault="sleep"')
        wait_for_line(fed.procs, "node0", "faulty_app: sleep in round 1", timeout=60)
        started = time.monotonic()
        rc = fed.procs.stop("node0", signal.SIGTERM, timeout=15)
        assert rc == 0, fed.procs.log("node0")
        assert time.monotonic() - started < 10
        assert "SuperNode terminated gracefully." in fed.procs.log("node0")
        port = fed.node_ports["node0"]
        leftovers = subprocess.run(["pgrep", "-f", f"runtime-api-address 127.0.0.1:{port}"], capture_output=True, text=True)
        assert leftovers.stdout.strip() == "", "the ClientApp outlived its SuperNode"
    finally:
        fed.procs.stop_all()


@pytest.mark.parametrize(
    "args, rc, message",
    [
        (["--node-config", "a=foo"], 2, "invalid --node-config"),
        (["--port", "0"], 2, "--port"),
        (["--isolation", "thread"], 2, "--isolation"),
        (["--max-retries", "-1"], 2, "--max-retries"),
        (["--clientappio-api-address", "127.0.0.1:9094"], 2, "use `--host` and `--port` instead"),
        (["--trusted-entities", "x.yaml"], 1, "Path argument `--trusted-entities` does not point to a file."),
        (["--root-certificates", "ca.pem"], 1, "Conflicting options"),
        (["--grpc-rere", "--grpc-adapter"], 2, "--grpc-rere excludes --grpc-adapter"),
        (["--superlink", "http://127.0.0.1:8000"], 1, "SuperLink address (http://127.0.0.1:8000) cannot be parsed."),
    ],
)
def test_bad_flags_are_one_line_errors(args: list[str], rc: int, message: str, build_dir: Path) -> None:
    result = subprocess.run(
        [str(build_dir / "supernode/flower-supernode"), "--insecure", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == rc, result.stdout + result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("component", ["superlink", "supernode"])
def test_health_server_answers_serving(component: str, tmp_path: Path, build_dir: Path) -> None:
    """`--health-server-address`: the standard gRPC health service (Kubernetes gRPC probes)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    fed = Federation(tmp_path, build_dir, "cpp")
    health = free_port()
    try:
        if component == "superlink":
            argv = superlink_argv("cpp", fed.ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
            fed.procs.start("superlink", argv + ["--health-server-address", f"127.0.0.1:{health}"])
        else:
            fed.start_node("node0", "cpp", "", extra=["--health-server-address", f"127.0.0.1:{health}"])
        wait_for_port(health)
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{health}"))
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        fed.procs.stop_all()
