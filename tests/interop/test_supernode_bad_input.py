"""Bad input against the C++ SuperNode, from both sides: a hostile Fleet server (a fake SuperLink
written with the stock flwr stubs) sends objects that do not match their IDs, missing objects and
garbage; a ClientApp (this test, speaking the Runtime API over HTTP) sends bad tokens, malformed
protobuf and bad replies. Each gets a clear error, the node keeps running, and nothing is
half-applied: the next good message is processed normally."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.cli.build import build_fab_from_disk
from flwr.common.serde import message_to_proto
from flwr.proto import fab_pb2, fleet_pb2, fleet_pb2_grpc, heartbeat_pb2, message_pb2, node_pb2, run_pb2, runtime_pb2
from flwr.proto import recorddict_pb2
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree

from harness import APPS, Processes, base_env, free_port, supernode_argv, wait_for_port

NODE_ID = 7
RUN_ID = 5


def numpy_fab() -> bytes:
    """The numpy test app built into a FAB by the stock `flwr build` logic."""
    return build_fab_from_disk(APPS / "numpy_app")


def instruction(round_: int) -> tuple[message_pb2.Message, message_pb2.ObjectTree, dict[str, bytes]]:
    """A train message as a SuperLink delivers it: content-less proto, tree, objects by ID."""
    content = RecordDict({"arrays": ArrayRecord({"w": Array(np.zeros(10, dtype=np.float32))}),
                          "config": ConfigRecord({"server-round": round_})})
    msg = Message(content, dst_node_id=NODE_ID, message_type="train", group_id=str(round_))
    msg.metadata.__dict__["_run_id"] = RUN_ID
    msg.metadata.__dict__["_src_node_id"] = 1
    msg.metadata.__dict__["_message_id"] = msg.object_id
    objects = {oid: o.deflate() for oid, o in get_all_nested_objects(msg).items()}
    proto = message_to_proto(msg)
    proto.content.CopyFrom(recorddict_pb2.RecordDict())
    return proto, get_object_tree(msg), objects


class FakeFleet(fleet_pb2_grpc.FleetServicer):
    """A SuperLink that hands out scripted (message, tree, objects) deliveries, one per pull."""

    def __init__(self) -> None:
        self.fab = numpy_fab()
        self.deliveries: list[tuple] = []
        self.objects: dict[str, bytes] = {}
        self.pushed: list[message_pb2.Message] = []
        self.pushed_objects: dict[str, bytes] = {}
        self.confirmed: list[str] = []
        self.lock = threading.Lock()

    def RegisterNode(self, request, context):
        return fleet_pb2.RegisterNodeFleetResponse(node_id=NODE_ID)

    def ActivateNode(self, request, context):
        return fleet_pb2.ActivateNodeResponse(node_id=NODE_ID)

    def DeactivateNode(self, request, context):
        return fleet_pb2.DeactivateNodeResponse()

    def UnregisterNode(self, request, context):
        return fleet_pb2.UnregisterNodeFleetResponse()

    def SendNodeHeartbeat(self, request, context):
        return heartbeat_pb2.SendNodeHeartbeatResponse(success=True)

    def PullMessages(self, request, context):  # noqa: N802
        with self.lock:
            if not self.deliveries:
                return fleet_pb2.PullMessagesResponse()
            proto, tree, objects = self.deliveries.pop(0)
            self.objects.update(objects)
        return fleet_pb2.PullMessagesResponse(messages_list=[proto], message_object_trees=[tree])

    def GetRun(self, request, context):
        run = run_pb2.Run(run_id=RUN_ID, fab_id="flwrcpp/numpy-app", fab_version="1.0.0",
                          fab_hash=hashlib.sha256(self.fab).hexdigest(), series_id=RUN_ID,
                          status=run_pb2.RunStatus(status="running"))
        return run_pb2.GetRunResponse(run=run)

    def GetFab(self, request, context):
        return fab_pb2.GetFabResponse(fab=fab_pb2.Fab(hash_str=hashlib.sha256(self.fab).hexdigest(), content=self.fab))

    def PullObject(self, request, context):
        with self.lock:
            content = self.objects.get(request.object_id)
        if content is None:
            return message_pb2.PullObjectResponse(object_found=False, object_available=False)
        return message_pb2.PullObjectResponse(object_found=True, object_available=True, object_content=content)

    def ConfirmMessageReceived(self, request, context):
        self.confirmed.append(request.message_object_id)
        return message_pb2.ConfirmMessageReceivedResponse()

    def PushMessages(self, request, context):
        self.pushed.extend(request.messages_list)
        return fleet_pb2.PushMessagesResponse(objects_to_push=[o.object_id for o in _walk(request.message_object_trees[0])],
                                              session_id="s")

    def PushObject(self, request, context):
        stored = hashlib.sha256(request.object_content).hexdigest() == request.object_id
        if stored:
            self.pushed_objects[request.object_id] = request.object_content
        return message_pb2.PushObjectResponse(stored=stored)


def _walk(tree):
    for child in tree.children:
        yield from _walk(child)
    yield tree


@pytest.fixture
def fake_link():
    fleet = FakeFleet()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    fleet_pb2_grpc.add_FleetServicer_to_server(fleet, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fleet, port
    server.stop(0)


def start_node(tmp_path: Path, build_dir: Path, port: int, isolation: str):
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home"))
    appio = free_port()
    argv = supernode_argv(port, appio, "partition-id=0 num-partitions=1", kind="cpp", build_dir=build_dir, isolation=isolation)
    proc = procs.start("node", argv)
    wait_for_port(appio, proc=proc)
    return procs, proc, appio


def wait_until(predicate, timeout: float, what: str, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")


def tampered(delivery, mutate):
    proto, tree, objects = delivery
    objects = dict(objects)
    mutate(objects, tree)
    return proto, tree, objects


def _first_leaf(tree):
    return next(_walk(tree)).object_id


def _replace_leaf(objects, tree, content: bytes) -> None:
    """Serve `content` under a fresh ID in place of the first leaf (tree and objects updated)."""
    leaf = next(_walk(tree))
    objects.pop(leaf.object_id)
    leaf.object_id = hashlib.sha256(content).hexdigest()
    objects[leaf.object_id] = content


@pytest.mark.parametrize(
    "mutate, error",
    [
        # Bytes that do not hash to the object's ID.
        (lambda objs, tree: objs.__setitem__(_first_leaf(tree), objs[_first_leaf(tree)] + b"x"), "Failed to receive message"),
        # An object the link does not have (object_found=false).
        (lambda objs, tree: objs.pop(_first_leaf(tree)), "Failed to receive message"),
        # A leaf replaced by an object that claims a 1 TB body (its ID matches its bytes).
        (lambda objs, tree: _replace_leaf(objs, tree, b"ArrayChunk  1000000000000\x00" + b"\x00" * 64),
         "Failed to receive message"),
    ],
    ids=["hash-mismatch", "missing-object", "absurd-size"],
)
def test_bad_objects_from_the_link_are_refused_and_the_node_keeps_serving(
    mutate, error, fake_link, tmp_path: Path, build_dir: Path
) -> None:
    fleet, port = fake_link
    bad = tampered(instruction(1), mutate)
    good = instruction(2)
    good_id = good[0].metadata.message_id
    fleet.deliveries = [bad, good]
    procs, proc, _ = start_node(tmp_path, build_dir, port, "subprocess")
    try:
        wait_until(lambda: len(fleet.pushed) == 1, 90, "the good message's reply", procs)
        log = procs.log("node")
        assert error in log, log
        assert proc.poll() is None
        # Only the good message reached a ClientApp and got a reply; the bad one was not confirmed.
        assert log.count("Start `flwr-clientapp` process") == 1, log
        reply = fleet.pushed[0]
        assert reply.metadata.reply_to_message_id == good_id
        assert not reply.HasField("error"), reply
        assert fleet.confirmed == [good_id]
    finally:
        procs.stop_all()


def call(port: int, path: str, body: bytes, token: str | None = None, content_type: str = "application/protobuf"):
    headers = {"content-type": content_type}
    if token is not None:
        headers["flwr-task-token"] = token
    return httpx.post(f"http://127.0.0.1:{port}/v1/runtime/{path}", content=body, headers=headers, timeout=30)


def test_bad_requests_from_a_clientapp_get_clear_errors(fake_link, tmp_path: Path, build_dir: Path) -> None:
    """The node in process isolation; this test plays SuperExec and ClientApp over HTTP."""
    fleet, port = fake_link
    ins_proto, ins_tree, _ = delivery = instruction(1)
    fleet.deliveries = [delivery]
    procs, proc, appio = start_node(tmp_path, build_dir, port, "process")
    try:
        # Not authenticated, not protobuf, wrong media type.
        r = call(appio, "pull-task-input", runtime_pb2.PullTaskInputRequest().SerializeToString(), token="0" * 256)
        assert r.status_code == 401 and r.json()["code"] == 1008, r.text
        r = call(appio, "claim-task", b"\xff\xff\xff")
        assert r.status_code == 400 and r.json()["code"] == 1003, r.text
        r = call(appio, "claim-task", b"", content_type="application/json")
        assert r.status_code == 415, r.text

        def pending():
            r = call(appio, "pull-pending-tasks", runtime_pb2.PullPendingTasksRequest().SerializeToString())
            return runtime_pb2.PullPendingTasksResponse.FromString(r.content).tasks

        wait_until(lambda: len(pending()) == 1, 30, "a pending task", procs)
        task = pending()[0]
        token = runtime_pb2.ClaimTaskResponse.FromString(
            call(appio, "claim-task", runtime_pb2.ClaimTaskRequest(task_id=task.task_id).SerializeToString()).content).token
        assert len(token) == 256
        r = call(appio, "pull-task-input", runtime_pb2.PullTaskInputRequest().SerializeToString(), token)
        assert r.status_code == 200, r.text
        task_input = runtime_pb2.PullTaskInputResponse.FromString(r.content)
        assert task_input.context.node_config["partition-id"].sint64 == 0
        r = call(appio, "pull-task-input", runtime_pb2.PullTaskInputRequest().SerializeToString(), token)
        assert r.status_code == 412 and r.json()["code"] == 3002, r.text
        r = call(appio, "pull-messages", runtime_pb2.PullAppMessagesRequest().SerializeToString(), token)
        pulled = runtime_pb2.PullAppMessagesResponse.FromString(r.content)
        assert [m.metadata.message_id for m in pulled.messages_list] == [ins_proto.metadata.message_id]

        # The reply: wrong counts, wrong run, then a good one whose objects are pushed badly first.
        content = RecordDict({"arrays": ArrayRecord({"w": Array(np.ones(10, dtype=np.float32))}),
                              "metrics": MetricRecord({"num-examples": 10})})
        ins_msg = Message(RecordDict(), dst_node_id=NODE_ID, message_type="train", group_id="1")
        ins_msg.metadata.__dict__.update(_run_id=RUN_ID, _src_node_id=1, _message_id=ins_proto.metadata.message_id,
                                         _created_at=ins_proto.metadata.created_at)
        reply = Message(content, reply_to=ins_msg)
        reply.metadata.__dict__["_message_id"] = reply.object_id
        reply_proto, reply_tree = message_to_proto(reply), get_object_tree(reply)
        objects = {oid: o.deflate() for oid, o in get_all_nested_objects(reply).items()}

        req = runtime_pb2.PushAppMessagesRequest(messages_list=[reply_proto, reply_proto], message_object_trees=[reply_tree])
        r = call(appio, "push-messages", req.SerializeToString(), token)
        assert r.status_code == 400 and r.json()["code"] == 3013, r.text
        wrong_run = message_pb2.Message()
        wrong_run.CopyFrom(reply_proto)
        wrong_run.metadata.run_id = RUN_ID + 1
        req = runtime_pb2.PushAppMessagesRequest(messages_list=[wrong_run], message_object_trees=[reply_tree])
        r = call(appio, "push-messages", req.SerializeToString(), token)
        assert r.status_code == 403 and r.json()["code"] == 3014, r.text

        req = runtime_pb2.PushAppMessagesRequest(messages_list=[reply_proto], message_object_trees=[reply_tree])
        pushed = runtime_pb2.PushAppMessagesResponse.FromString(call(appio, "push-messages", req.SerializeToString(), token).content)
        assert set(pushed.objects_to_push) == set(objects)

        def push(oid: str, data: bytes) -> bool:
            body = message_pb2.PushObjectRequest(node=node_pb2.Node(node_id=NODE_ID), run_id=RUN_ID, object_id=oid,
                                                 object_content=data, session_id=pushed.session_id)
            return message_pb2.PushObjectResponse.FromString(call(appio, "push-object", body.SerializeToString(), token).content).stored

        first = pushed.objects_to_push[0]
        assert not push(first, objects[first] + b"x"), "bytes that do not hash to the ID were stored"
        assert not push("ab" * 32, objects[first]), "an object outside the session was stored"
        # As stock, the node announces the reply at once, then forwards each object once the
        # ClientApp has stored it: nothing of the reply reached the link yet.
        time.sleep(1.0)
        assert fleet.pushed_objects == {}, "objects were forwarded before the ClientApp stored them"
        for oid in pushed.objects_to_push:
            assert push(oid, objects[oid])
        wait_until(lambda: set(fleet.pushed_objects) == set(objects), 30, "the reply's objects at the link", procs)
        assert fleet.pushed_objects == objects
        assert [m.metadata.message_id for m in fleet.pushed] == [reply.object_id]
        r = call(appio, "push-task-output", runtime_pb2.PushTaskOutputRequest(sub_status="completed").SerializeToString(), token)
        assert r.status_code == 200, r.text
        r = call(appio, "send-task-heartbeat", runtime_pb2.SendTaskHeartbeatRequest().SerializeToString(), token)
        assert r.status_code == 401, "a finished task's token still works"
        assert proc.poll() is None
    finally:
        procs.stop_all()


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def test_oversized_request_body_is_refused_without_buffering_it(fake_link, tmp_path: Path, build_dir: Path) -> None:
    """A request body beyond the Runtime API's limit (512 MiB) is read and discarded, never
    buffered, and answered 413; the node keeps serving."""
    import socket

    _, port = fake_link
    procs, proc, appio = start_node(tmp_path, build_dir, port, "process")
    try:
        size = 513 << 20
        with socket.create_connection(("127.0.0.1", appio), timeout=60) as sock:
            sock.sendall(b"POST /v1/runtime/push-object HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/protobuf\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                sock.sendall(chunk)
            reply = sock.recv(4096)
        assert status_kib(proc.pid, "VmHWM") < 200 * 1024, "the body was buffered"
        assert reply.startswith(b"HTTP/1.1 413"), reply
        r = call(appio, "pull-pending-tasks", runtime_pb2.PullPendingTasksRequest().SerializeToString())
        assert r.status_code == 200
        assert proc.poll() is None
    finally:
        procs.stop_all()
