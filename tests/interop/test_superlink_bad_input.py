"""Bad input against the C++ SuperLink: each gets a clear gRPC/HTTP status, the server keeps
serving, and no state is corrupted. Requests are built with the stock flwr stubs and signed
with the stock SuperNode's interceptor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import grpc
import httpx
import pytest

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.client.grpc_rere_client.node_auth_client_interceptor import NodeAuthClientInterceptor
from flwr.proto import control_pb2, control_pb2_grpc, fab_pb2, fleet_pb2, fleet_pb2_grpc
from flwr.proto import heartbeat_pb2, message_pb2, node_pb2, run_pb2, runtime_pb2, task_pb2
from flwr.common.serde import message_to_proto
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree
from flwr.supercore.primitives.asymmetric import generate_key_pairs, public_key_to_bytes

from harness import Ports, Processes, app_fab_bytes, base_env, superlink_argv, wait_for_port


@pytest.fixture
def superlink(tmp_path: Path, build_dir: Path):
    env = base_env(tmp_path / "flwr_home")
    ports = Ports()
    procs = Processes(tmp_path, env)
    argv = superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
    proc = procs.start("superlink", argv + ["--isolation", "process"])
    wait_for_port(ports.control, proc=proc)
    wait_for_port(ports.fleet, proc=proc)
    wait_for_port(ports.runtime, proc=proc)
    yield ports, procs, proc
    procs.stop_all()


def fleet_stub(port: int, key=None):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    if key is not None:
        channel = grpc.intercept_channel(channel, NodeAuthClientInterceptor(*key))
    return fleet_pb2_grpc.FleetStub(channel)


def control_stub(port: int):
    return control_pb2_grpc.ControlStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def new_node(stub_port: int):
    key = generate_key_pairs()
    stub = fleet_stub(stub_port, key)
    pk = public_key_to_bytes(key[1])
    node_id = stub.RegisterNode(fleet_pb2.RegisterNodeFleetRequest(public_key=pk)).node_id
    stub.ActivateNode(fleet_pb2.ActivateNodeRequest(public_key=pk, heartbeat_interval=30))
    return stub, node_id


def flower_error(err: grpc.RpcError) -> dict:
    return json.loads(err.details())


def start_run(port: int, content: bytes, hash_str: str | None = None):
    fab = fab_pb2.Fab(hash_str=hashlib.sha256(content).hexdigest() if hash_str is None else hash_str,
                      content=content)
    return control_stub(port).StartRun(control_pb2.StartRunRequest(fab=fab))


def runtime_call(port: int, path: str, request, response_type, token: str | None = None):
    headers = {"content-type": "application/protobuf"}
    if token:
        headers["flwr-task-token"] = token
    r = httpx.post(f"http://127.0.0.1:{port}/v1/runtime/{path}", content=request.SerializeToString(), headers=headers)
    return r, (response_type.FromString(r.content) if r.status_code == 200 else None)


def push_instruction_message(ports: Ports, run_id: int, token: str, msg: Message):
    """Push `msg` as the run's ServerApp would (PushMessages over the Runtime API): returns the
    response and the message's deflated objects by ID."""
    msg.metadata.__dict__["_run_id"] = run_id
    msg.metadata.__dict__["_src_node_id"] = 1
    msg.metadata.__dict__["_message_id"] = msg.object_id
    objects = {oid: o.deflate() for oid, o in get_all_nested_objects(msg).items()}
    r, pushed = runtime_call(
        ports.runtime, "push-messages",
        runtime_pb2.PushAppMessagesRequest(messages_list=[message_to_proto(msg)],
                                           message_object_trees=[get_object_tree(msg)]),
        runtime_pb2.PushAppMessagesResponse, token)
    assert r.status_code == 200, r.text
    assert list(pushed.message_ids) == [msg.object_id]
    return pushed, objects


def running_run(ports: Ports) -> tuple[int, str]:
    """Start a run and drive it to `running` through the Runtime API, as a SuperExec would."""
    run_id = start_run(ports.control, app_fab_bytes("numpy_app")).run_id
    _, tasks = runtime_call(ports.runtime, "pull-pending-tasks", runtime_pb2.PullPendingTasksRequest(), runtime_pb2.PullPendingTasksResponse)
    task = next(t for t in tasks.tasks if t.run_id == run_id)
    _, claimed = runtime_call(ports.runtime, "claim-task", runtime_pb2.ClaimTaskRequest(task_id=task.task_id), runtime_pb2.ClaimTaskResponse)
    r, _ = runtime_call(ports.runtime, "pull-task-input", runtime_pb2.PullTaskInputRequest(), runtime_pb2.PullTaskInputResponse, claimed.token)
    assert r.status_code == 200, r.text
    return run_id, claimed.token


def test_fleet_call_without_signature_is_unauthenticated(superlink) -> None:
    ports, _, _ = superlink
    with pytest.raises(grpc.RpcError) as err:
        fleet_stub(ports.fleet).PullMessages(fleet_pb2.PullMessagesRequest(node=node_pb2.Node(node_id=5)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "Missing authentication metadata"


def test_pulling_another_nodes_messages_is_refused(superlink) -> None:
    ports, _, _ = superlink
    stub_a, _ = new_node(ports.fleet)
    _, node_b = new_node(ports.fleet)
    with pytest.raises(grpc.RpcError) as err:
        stub_a.PullMessages(fleet_pb2.PullMessagesRequest(node=node_pb2.Node(node_id=node_b)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "Invalid node ID"


def test_unknown_run_id_is_a_flower_error(superlink) -> None:
    ports, _, _ = superlink
    stub, node_id = new_node(ports.fleet)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetRun(run_pb2.GetRunRequest(node=node_pb2.Node(node_id=node_id), run_id=424242))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert flower_error(err.value)["code"] == 2008
    with pytest.raises(grpc.RpcError) as err:
        control_stub(ports.control).StopRun(control_pb2.StopRunRequest(run_id=424242))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert flower_error(err.value)["public_message"] == "Run ID not found."


def test_bad_fabs_are_refused_and_the_server_keeps_serving(superlink) -> None:
    ports, _, _ = superlink
    with pytest.raises(grpc.RpcError) as err:
        start_run(ports.control, b"this is not a zip file")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert flower_error(err.value)["code"] == 15
    with pytest.raises(grpc.RpcError) as err:
        start_run(ports.control, app_fab_bytes("numpy_app"), hash_str="0" * 64)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hash" in err.value.details()
    assert not start_run(ports.control, b"x" * (10 * 1024 * 1024 + 1)).HasField("run_id")
    assert control_stub(ports.control).ListRuns(control_pb2.ListRunsRequest()).run_dict == {}
    good = start_run(ports.control, app_fab_bytes("numpy_app"))
    assert good.HasField("run_id")
    runs = control_stub(ports.control).ListRuns(control_pb2.ListRunsRequest()).run_dict
    assert list(runs) == [good.run_id] and runs[good.run_id].status.status == "pending"


def test_malformed_protobuf_is_rejected(superlink) -> None:
    ports, _, proc = superlink
    channel = grpc.insecure_channel(f"127.0.0.1:{ports.control}")
    raw = channel.unary_unary("/flwr.proto.Control/ListRuns", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as err:
        raw(b"\xff\xff\xff\xff\x0f garbage")
    assert err.value.code() != grpc.StatusCode.OK
    r = httpx.post(f"http://127.0.0.1:{ports.runtime}/v1/runtime/claim-task", content=b"\xff\xff",
                   headers={"content-type": "application/protobuf"})
    assert r.status_code == 400 and r.json()["code"] == 1003
    r = httpx.post(f"http://127.0.0.1:{ports.runtime}/v1/runtime/claim-task", content=b"", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert proc.poll() is None
    assert control_stub(ports.control).ListRuns(control_pb2.ListRunsRequest()).now


def _varint(value: int) -> bytes:
    out = b""
    while value > 0x7F:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def acquire_task(port: int, task_types=(), fab_hashes=()) -> tuple[task_pb2.Task | None, str]:
    """Flower 1.42's acquire-task. The pinned 1.36 stubs lack its messages, so they are encoded
    by hand: AcquireTaskRequest{repeated string supported_task_types = 1; repeated string
    agentapp_fab_hashes = 2} -> AcquireTaskResponse{Task task = 1; string token = 2}."""
    body = b"".join(bytes([(field << 3) | 2]) + _varint(len(v.encode())) + v.encode()
                    for field, values in ((1, task_types), (2, fab_hashes)) for v in values)
    r = httpx.post(f"http://127.0.0.1:{port}/v1/runtime/acquire-task", content=body,
                   headers={"content-type": "application/protobuf"})
    assert r.status_code == 200, r.text
    task, token, pos = None, "", 0
    while pos < len(r.content):
        key, pos = _read_varint(r.content, pos)
        length, pos = _read_varint(r.content, pos)
        value, pos = r.content[pos:pos + length], pos + length
        if key >> 3 == 1:
            task = task_pb2.Task.FromString(value)
        elif key >> 3 == 2:
            token = value.decode()
    return task, token


def test_acquire_task_claims_the_oldest_eligible_task(superlink) -> None:
    ports, _, proc = superlink
    first = start_run(ports.control, app_fab_bytes("numpy_app")).run_id
    other_fab = app_fab_bytes("numpy_app") + b"\0"  # another FAB hash (a zip with a trailing byte still opens)
    second = start_run(ports.control, other_fab).run_id
    assert acquire_task(ports.runtime) == (None, "")
    assert acquire_task(ports.runtime, ["flwr-clientapp"], ["unknown"]) == (None, "")

    task, token = acquire_task(ports.runtime, ["flwr-serverapp"])
    assert task.run_id == first and task.status.status == "pending" and len(token) == 256
    _, pending = runtime_call(ports.runtime, "pull-pending-tasks", runtime_pb2.PullPendingTasksRequest(),
                              runtime_pb2.PullPendingTasksResponse)
    assert [t.run_id for t in pending.tasks] == [second]
    r, _ = runtime_call(ports.runtime, "pull-task-input", runtime_pb2.PullTaskInputRequest(),
                        runtime_pb2.PullTaskInputResponse, token)
    assert r.status_code == 200, r.text

    task, _ = acquire_task(ports.runtime, ["flwr-simulation"], [hashlib.sha256(other_fab).hexdigest()])
    assert task.run_id == second
    assert acquire_task(ports.runtime, ["flwr-serverapp"]) == (None, "")
    assert proc.poll() is None


def test_objects_must_be_preregistered_and_hash_to_their_id(superlink) -> None:
    ports, _, _ = superlink
    stub, node_id = new_node(ports.fleet)
    run_id, token = running_run(ports)
    node = node_pb2.Node(node_id=node_id)
    content = b"ConfigRecord  0\x00"
    object_id = hashlib.sha256(content).hexdigest()
    pushed = stub.PushObject(message_pb2.PushObjectRequest(node=node, run_id=run_id, object_id=object_id,
                                                            object_content=content, session_id="nope"))
    assert not pushed.stored
    pulled = stub.PullObject(message_pb2.PullObjectRequest(node=node, run_id=run_id, object_id=object_id))
    assert not pulled.object_found
    # A preregistered object whose bytes do not hash to its ID is refused; the right bytes work.
    msg = Message(RecordDict({"c": ConfigRecord({"x": 1})}), dst_node_id=node_id, message_type="train")
    pushed, objects = push_instruction_message(ports, run_id, token, msg)
    assert set(pushed.objects_to_push) == set(objects)
    some_id = pushed.objects_to_push[0]
    for bad in (objects[some_id] + b"x", b"ConfigRecord  0\x00"):
        r, res = runtime_call(ports.runtime, "push-object", message_pb2.PushObjectRequest(
            node=node_pb2.Node(node_id=1), run_id=run_id, object_id=some_id, object_content=bad,
            session_id=pushed.session_id), message_pb2.PushObjectResponse, token)
        assert r.status_code == 200 and not res.stored
    for oid in pushed.objects_to_push:
        r, res = runtime_call(ports.runtime, "push-object", message_pb2.PushObjectRequest(
            node=node_pb2.Node(node_id=1), run_id=run_id, object_id=oid, object_content=objects[oid],
            session_id=pushed.session_id), message_pb2.PushObjectResponse, token)
        assert res.stored
    # The node receives the instruction intact, with its tree.
    got = stub.PullMessages(fleet_pb2.PullMessagesRequest(node=node))
    assert [m.metadata.message_id for m in got.messages_list] == [msg.object_id]
    assert got.message_object_trees[0] == get_object_tree(msg)
    r, _ = runtime_call(ports.runtime, "get-nodes", runtime_pb2.GetNodesRequest(), runtime_pb2.GetNodesResponse, "bad-token")
    assert r.status_code == 401 and r.json()["code"] == 1008


def test_heartbeat_interval_out_of_range_is_refused(superlink) -> None:
    ports, _, _ = superlink
    stub, node_id = new_node(ports.fleet)
    with pytest.raises(grpc.RpcError) as err:
        stub.SendNodeHeartbeat(heartbeat_pb2.SendNodeHeartbeatRequest(node=node_pb2.Node(node_id=node_id), heartbeat_interval=1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert flower_error(err.value)["code"] == 2003
    ok = stub.SendNodeHeartbeat(heartbeat_pb2.SendNodeHeartbeatRequest(node=node_pb2.Node(node_id=node_id), heartbeat_interval=30))
    assert ok.success
