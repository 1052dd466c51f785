"""The GrpcAdapter Fleet transport (`flower-superlink --fleet-api-type grpc-adapter`,
`flower-supernode --grpc-adapter`): stock 1.36 SuperNodes run an app through our SuperLink, our
SuperNodes run one through the stock SuperLink of each line (1.42 serves it only with
FLWR_INTERNAL_GRPC_FLEET_API=1), raw SendReceive failures answer as the stock SuperLink's, Flower
Hub apps are refused as stock refuses them on this transport, and our SuperNode exits when an
answer says "should-exit". Each federation is started once per
module and shared by the cases that use it."""

from __future__ import annotations

import re
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from flwr.proto.fleet_pb2 import PullMessagesRequest, RegisterNodeFleetRequest, RegisterNodeFleetResponse
from flwr.proto.grpcadapter_pb2 import MessageContainer
from flwr.proto.grpcadapter_pb2_grpc import GrpcAdapterServicer, GrpcAdapterStub, add_GrpcAdapterServicer_to_server

from harness import (
    LINES,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    normalise_cli_output,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)

# The stock SuperNode has `--grpc-adapter` up to 1.36 (1.42 speaks HTTP only).
ADAPTER_CLIENT_LINES = [line for line in LINES if not line.http_fleet]
pytestmark = pytest.mark.skipif(not ADAPTER_CLIENT_LINES, reason="no pinned line has a GrpcAdapter SuperNode")

ADAPTER = ["--fleet-api-type", "grpc-adapter"]


class Federation:
    """A SuperLink serving GrpcAdapter on its Fleet port, two SuperNodes speaking it, and the
    line's CLI pointed at the SuperLink."""

    def __init__(self, directory: Path, build_dir: Path, link: str, nodes: str, line: Line) -> None:
        self.line = line
        self.env = base_env(directory / "flwr_home", line)
        self.ports = Ports()
        write_cli_config(directory / "flwr_home", self.ports.control_for(line))
        self.procs = Processes(directory, self.env)
        argv = superlink_argv(link, self.ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)
        # Stock 1.42 starts its gRPC Fleet API (either type) only on this internal switch.
        proc = self.procs.start("superlink", argv + ADAPTER, env={"FLWR_INTERNAL_GRPC_FLEET_API": "1"})
        for port in {self.ports.fleet, self.ports.control_for(line), self.ports.runtime}:
            wait_for_port(port, proc=proc)
        for i in range(2):
            argv = supernode_argv(self.ports.fleet, free_port(), f"partition-id={i} num-partitions=2",
                                  kind=nodes, build_dir=build_dir, line=line)
            self.procs.start(f"supernode{i}", [argv[0], "--grpc-adapter", *(a for a in argv[1:] if a != "--grpc-rere")])

    def run_completes(self, app_dir: Path) -> None:
        # One round makes every Fleet call but UnregisterNode (made as the SuperNodes stop).
        result = flwr(self.env, "run", str(app_dir), "--format", "json", "--run-config", "num-server-rounds=1",
                      timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + self.procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        try:
            run = wait_for_status(self.env, run_id, "finished", timeout=120)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{self.procs.logs()}") from None
        assert run["status"] == "finished:completed", (run, self.procs.logs())

    def send_receive(self, name: str, content: bytes) -> tuple:
        """One raw SendReceive: (status code, details) of a failure, else the answer's name,
        module and qualname metadata, and metadata keys."""
        with grpc.insecure_channel(f"127.0.0.1:{self.ports.fleet}") as channel:
            try:
                answer = GrpcAdapterStub(channel).SendReceive(
                    MessageContainer(grpc_message_name=name, grpc_message_content=content), timeout=10)
            except grpc.RpcError as e:
                return e.code(), e.details()
        return (answer.grpc_message_name, answer.metadata["grpc-message-module"],
                answer.metadata["grpc-message-qualname"], sorted(answer.metadata))


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    return copy_test_app("numpy_app", tmp_path_factory.mktemp("app") / "numpy_app")


@pytest.fixture(scope="module")
def ours(tmp_path_factory, build_dir: Path):
    """Our SuperLink with stock 1.36 SuperNodes (`--grpc-adapter`) and the 1.36 CLI."""
    fed = Federation(tmp_path_factory.mktemp("ours"), build_dir, "cpp", "python", ADAPTER_CLIENT_LINES[0])
    yield fed
    fed.procs.stop_all_at_once(grace=5)


@pytest.fixture(scope="module", params=LINES, ids=str)
def stock(request, tmp_path_factory, build_dir: Path):
    """The line's stock SuperLink with our SuperNodes (`--grpc-adapter`) and the line's CLI."""
    fed = Federation(tmp_path_factory.mktemp(f"stock-{request.param}"), build_dir, "python", "cpp", request.param)
    yield fed
    fed.procs.stop_all_at_once(grace=5)


def test_stock_supernodes_run_an_app_through_our_superlink(ours: Federation, app_dir: Path) -> None:
    assert re.search(r"Starting Fleet API \(GrpcAdapter\) on 127\.0\.0\.1:\d+", ours.procs.log("superlink"))
    ours.run_completes(app_dir)


def test_our_supernodes_run_an_app_through_the_stock_superlink(stock: Federation, app_dir: Path) -> None:
    stock.run_completes(app_dir)


def test_send_receive_answers_as_the_stock_superlink(ours: Federation, stock: Federation) -> None:
    """Unknown names and unparsable content fail with the stock status and details, a Fleet
    error with the stock status; a known request is answered in the stock envelope."""
    garbage = b"\xff\xff\xff"
    key = f"probe-{time.monotonic_ns()}".encode()  # the federations outlive one case
    register = RegisterNodeFleetRequest(public_key=key).SerializeToString()
    cases = [
        ("Foo", b""),
        ("", b""),
        ("RegisterNodeFleetRequest", garbage),
        ("PullMessagesRequest", garbage),
        ("RegisterNodeFleetRequest", register),
        ("PullMessagesRequest", PullMessagesRequest().SerializeToString()),
    ]
    answers = {fed: [fed.send_receive(*case) for case in cases] for fed in (ours, stock)}
    assert answers[ours] == answers[stock]
    assert answers[ours][0] == (grpc.StatusCode.UNKNOWN,
                                "Exception calling application: Invalid grpc_message_name: Foo")
    # The key is taken now: a Fleet error, whose message is each SuperLink's own.
    assert ours.send_receive("RegisterNodeFleetRequest", register)[0] == grpc.StatusCode.UNKNOWN
    assert stock.send_receive("RegisterNodeFleetRequest", register)[0] == grpc.StatusCode.UNKNOWN


def test_flower_hub_apps_are_refused_as_the_stock_superlink_refuses_them(
        ours: Federation, stock: Federation, tmp_path: Path) -> None:
    """Stock's _get_remote_fab: no Flower Hub on this transport (code 32), through the line's
    CLI."""
    home = tmp_path / "flwr_home"
    write_cli_config(home, ours.ports.control_for(stock.line))
    outputs = []
    for env, port in ((base_env(home, stock.line), ours.ports.control_for(stock.line)),
                      (stock.env, stock.ports.control_for(stock.line))):
        result = flwr(env, "run", "@flwrlabs/app", "--format", "json", cwd=tmp_path)
        outputs.append(normalise_cli_output(result.stdout + result.stderr, port))
    assert outputs[0] == outputs[1]
    assert "[code: 32]" in outputs[0], outputs[0]


class ShouldExit(GrpcAdapterServicer):
    """A SuperLink that registers the node and tells it to exit."""

    def SendReceive(self, request, context):  # noqa: N802 (the rpc's name)
        return MessageContainer(metadata={"should-exit": "true"}, grpc_message_name="RegisterNodeFleetResponse",
                                grpc_message_content=RegisterNodeFleetResponse(node_id=1).SerializeToString())


def test_our_supernode_exits_gracefully_when_told_to(tmp_path: Path, build_dir: Path) -> None:
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_GrpcAdapterServicer_to_server(ShouldExit(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home"))
    try:
        argv = supernode_argv(port, free_port(), "", kind="cpp", build_dir=build_dir)
        node = procs.start("supernode", [argv[0], "--grpc-adapter", *argv[1:]])
        deadline = time.monotonic() + 15
        while node.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.returncode == 0, procs.logs()
        assert "SuperNode terminated gracefully." in procs.log("supernode")
    finally:
        procs.stop_all()
        server.stop(None)
