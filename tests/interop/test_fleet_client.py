"""The C++ FleetClient (supernode/) over gRPC (--grpc-rere) against our C++ SuperLink and the stock
Python 1.36 one.

The test plays the ServerApp over the Runtime HTTP API (as in test_superlink_bad_input.py) and
drives `fleet_client_probe` (one FleetClient, commands on stdin, one JSON line per command on
stdout) as the SuperNode: connect, pull a chunked instruction, reply, disconnect.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.proto import control_pb2, message_pb2, node_pb2, runtime_pb2
from flwr.supercore.inflatable.inflatable_object import iterate_object_tree
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

from harness import Ports, Processes, base_env, make_certificates, superlink_argv, wait_for_port
from test_superlink_bad_input import control_stub, push_instruction_message, running_run, runtime_call

N_FLOATS = 3 * 1024 * 1024  # 12 MiB of float32: three ArrayChunks


@pytest.fixture(params=["cpp", "python"])
def superlink(request, tmp_path: Path, build_dir: Path):
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    procs = Processes(tmp_path, env)
    argv = superlink_argv(request.param, ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
    proc = procs.start("superlink", argv + ["--isolation", "process"])
    for port in (ports.control, ports.fleet, ports.runtime):
        wait_for_port(port, proc=proc)
    yield ports, procs
    procs.stop_all()


class Probe:
    """fleet_client_probe as a subprocess: one command in, one JSON line out."""

    def __init__(self, build_dir: Path, fleet_port: int, log: Path):
        self.stderr = open(log, "wb")
        self.proc = subprocess.Popen(
            [str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{fleet_port}", "--grpc-rere"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
        )

    def __call__(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"probe exited ({self.proc.poll()}) on {command!r}"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def nodes(ports: Ports) -> dict[int, str]:
    res = control_stub(ports.control).ListNodes(control_pb2.ListNodesRequest())
    return {n.node_id: n.status for n in res.nodes_info}


def push_instruction(ports: Ports, run_id: int, token: str, node_id: int, values: np.ndarray) -> Message:
    content = RecordDict({"arrays": ArrayRecord({"w": Array(values)}), "config": ConfigRecord({"lr": 0.1})})
    msg = Message(content, dst_node_id=node_id, message_type="train")
    pushed, objects = push_instruction_message(ports, run_id, token, msg)
    assert sum(1 for o in objects.values() if o.startswith(b"ArrayChunk ")) == 3
    for oid in pushed.objects_to_push:
        r, res = runtime_call(ports.runtime, "push-object", message_pb2.PushObjectRequest(
            node=node_pb2.Node(node_id=1), run_id=run_id, object_id=oid, object_content=objects[oid],
            session_id=pushed.session_id), message_pb2.PushObjectResponse, token)
        assert r.status_code == 200 and res.stored, r.text
    return msg


def pull_reply(ports: Ports, run_id: int, token: str, ins_id: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        r, res = runtime_call(ports.runtime, "pull-messages",
                              runtime_pb2.PullAppMessagesRequest(message_ids=[ins_id]),
                              runtime_pb2.PullAppMessagesResponse, token)
        assert r.status_code == 200, r.text
        if res.messages_list:
            break
        assert time.monotonic() < deadline, "no reply"
        time.sleep(0.5)
    wire, tree = res.messages_list[0], res.message_object_trees[0]
    contents = {}
    for node in iterate_object_tree(tree):
        if node.object_id in contents:
            continue
        r, obj = runtime_call(ports.runtime, "pull-object", message_pb2.PullObjectRequest(
            node=node_pb2.Node(node_id=1), run_id=run_id, object_id=node.object_id),
            message_pb2.PullObjectResponse, token)
        assert r.status_code == 200 and obj.object_found and obj.object_available, r.text
        contents[node.object_id] = obj.object_content
    reply = inflate_object_from_contents(tree.object_id, contents, keep_object_contents=False)
    return wire, reply


def test_fleet_client_round_trip(superlink, build_dir: Path, tmp_path: Path) -> None:
    ports, procs = superlink
    probe = Probe(build_dir, ports.fleet, tmp_path / "probe.log")
    try:
        connected = probe("connect")
        assert connected["ok"], connected
        node_id = connected["node_id"]
        assert node_id > 1
        deadline = time.monotonic() + 10
        while nodes(ports).get(node_id) != "online":
            assert time.monotonic() < deadline, nodes(ports)
            time.sleep(0.2)
        # The heartbeat thread sends its first heartbeat right after connecting.
        deadline = time.monotonic() + 20
        while probe("heartbeats")["count"] < 1:
            assert time.monotonic() < deadline, "no heartbeat sent"
            time.sleep(0.2)

        run_id, token = running_run(ports)
        values = np.arange(N_FLOATS, dtype=np.float32) * np.float32(0.5)
        ins = push_instruction(ports, run_id, token, node_id, values)

        pulled = probe("pull 30")
        assert pulled["ok"], pulled
        assert pulled["message_id"] == ins.object_id
        assert pulled["run_id"] == run_id and pulled["message_type"] == "train"
        assert pulled["fab_size"] > 0 and len(pulled["fab_hash"]) == 64
        w = pulled["arrays"]["arrays/w"]
        assert w["dtype"] == "float32" and w["shape"] == [N_FLOATS]
        assert w["sha256"] == hashlib.sha256(values.tobytes()).hexdigest()
        # Nothing else is queued for the node.
        assert probe("pull 0")["message_id"] is None

        replied = probe("reply 1.5")
        assert replied["ok"], replied
        wire, reply = pull_reply(ports, run_id, token, ins.object_id)
        assert wire.metadata.message_id == replied["message_id"]
        assert wire.metadata.reply_to_message_id == ins.object_id
        assert wire.metadata.src_node_id == node_id
        assert not reply.has_error()
        np.testing.assert_array_equal(reply.content["arrays"]["w"].numpy(), values + np.float32(1.5))
        assert reply.content["metrics"]["add"] == 1.5

        assert probe("disconnect")["ok"]
        assert nodes(ports).get(node_id) in (None, "unregistered"), nodes(ports)
    finally:
        probe.close()
        print(procs.logs())


def test_unknown_run_is_run_not_running(superlink, build_dir: Path, tmp_path: Path) -> None:
    """PullMessage of an instruction whose run has finished: PERMISSION_DENIED is reported as
    "run not running" (the probe's `run_not_running`), and a later Disconnect still works."""
    ports, procs = superlink
    probe = Probe(build_dir, ports.fleet, tmp_path / "probe.log")
    try:
        node_id = probe("connect")["node_id"]
        run_id, token = running_run(ports)
        ins = push_instruction(ports, run_id, token, node_id, np.ones(N_FLOATS, dtype=np.float32))
        r, _ = runtime_call(ports.runtime, "push-task-output",
                            runtime_pb2.PushTaskOutputRequest(sub_status="completed"),
                            runtime_pb2.PushTaskOutputResponse, token)
        assert r.status_code == 200, r.text
        pulled = probe("pull 10")
        assert not pulled["ok"] and pulled["run_not_running"], pulled
        assert ins.object_id
        assert probe("disconnect")["ok"]
    finally:
        probe.close()
        print(procs.logs())


def test_unreachable_superlink_gives_up_after_max_retries(build_dir: Path, tmp_path: Path) -> None:
    """UNAVAILABLE is retried with backoff; `--max-retries 2` gives up after 3 tries."""
    from harness import free_port

    log = tmp_path / "probe.log"
    proc = subprocess.run(
        [str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{free_port()}", "--grpc-rere",
         "--max-retries", "2"],
        input="connect\nquit\n", capture_output=True, text=True, timeout=60,
    )
    log.write_text(proc.stderr)
    out = json.loads(proc.stdout.splitlines()[0])
    assert not out["ok"] and out["code"] == "UNAVAILABLE", out
    assert proc.stderr.count("Connection attempt failed, retrying in") == 2, proc.stderr
    assert "Giving up reconnection after" in proc.stderr and "3 tries." in proc.stderr, proc.stderr


def test_tls_connect_and_handshake_failure(build_dir: Path, tmp_path: Path) -> None:
    """Over TLS with the CA certificate the node connects; with another CA the handshake fails
    and, as stock, is not retried."""

    (tmp_path / "other").mkdir()
    ca, cert, key = make_certificates(tmp_path)
    other_ca, _, _ = make_certificates(tmp_path / "other")
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    procs = Processes(tmp_path, env)
    try:
        argv = [a for a in superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
                if a != "--insecure"]
        link = procs.start("superlink", argv + ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                                                "--ssl-ca-certfile", str(ca)])
        wait_for_port(ports.fleet, proc=link)
        probe = subprocess.run(
            [str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{ports.fleet}", "--grpc-rere",
             "--root-certificates", str(ca)],
            input="connect\nheartbeats\ndisconnect\nquit\n", capture_output=True, text=True, timeout=60)
        connected, heartbeats, disconnected = (json.loads(line) for line in probe.stdout.splitlines())
        assert connected["ok"] and disconnected["ok"], probe.stdout + probe.stderr
        bad = subprocess.run(
            [str(build_dir / "supernode/fleet_client_probe"), f"127.0.0.1:{ports.fleet}", "--grpc-rere",
             "--root-certificates", str(other_ca), "--max-retries", "3"],
            input="connect\nquit\n", capture_output=True, text=True, timeout=60)
        out = json.loads(bad.stdout.splitlines()[0])
        assert not out["ok"] and out["code"] == "UNAVAILABLE", out
        assert "SSL/TLS handshake error detected." in bad.stderr, bad.stderr
        assert "retrying in" not in bad.stderr, bad.stderr
    finally:
        procs.stop_all()
