"""A small fake Runtime API for one ClientApp task: protobuf over HTTP, as a Flower 1.36
SuperNode serves `flwr-clientapp` (docs/flower-1.36-supernode-protocol.md §6). It hands out a
FAB and one instruction, takes whatever the ClientApp pushes back, and records when the first
request arrived, so tests and bench/bench_startup.py can start a real `flwr-clientapp` (ours or
the stock one) against it without a SuperLink or a SuperNode.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flwr.app import Context, Message, Metadata, RecordDict
from flwr.common import serde
from flwr.proto import message_pb2, runtime_pb2
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree

RUN_ID = 1
NODE_ID = 9
TOKEN = "fake-token"


def make_fab(native_clientapp: str | None, clientapp: str = "app:app") -> bytes:
    """A FAB (zip) whose pyproject.toml names the Python `clientapp` component and, if given,
    the native ClientApp (`[tool.flwr.app.native] clientapp`)."""
    pyproject = (
        '[project]\nname = "startup"\nversion = "1.0.0"\n\n'
        f'[tool.flwr.app]\npublisher = "p"\n\n[tool.flwr.app.components]\n'
        f'serverapp = "app:server"\nclientapp = "{clientapp}"\n\n[tool.flwr.app.config]\n'
    )
    if native_clientapp is not None:
        pyproject += f'\n[tool.flwr.app.native]\nclientapp = "{native_clientapp}"\n'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as fab:
        fab.writestr("pyproject.toml", pyproject)
    return buffer.getvalue()


class FakeRuntimeApi:
    """Serves one task on 127.0.0.1 (an ephemeral port): `address` is what to pass as
    --runtime-api-address. `first_request_at` (time.monotonic) and `paths` record the calls;
    `task_output` is the PushTaskOutputRequest once pushed (`done` is then set);
    `on_task_output` runs when it arrives, before it is answered (the ClientApp still runs)."""

    def __init__(self, fab: bytes, message_type: str = "query",
                 on_task_output: Callable[[], None] | None = None) -> None:
        self.fab = fab
        self.on_task_output = on_task_output
        self.first_request_at: float | None = None
        self.paths: list[str] = []
        self.task_output: runtime_pb2.PushTaskOutputRequest | None = None
        self.done = threading.Event()
        metadata = Metadata(run_id=RUN_ID, message_id="", src_node_id=1, dst_node_id=NODE_ID,
                            reply_to_message_id="", group_id="", created_at=time.time(), ttl=3600,
                            message_type=message_type)
        self.message = Message(RecordDict(), metadata=metadata)
        self.message.metadata.__dict__["_message_id"] = self.message.object_id
        self.objects = {oid: obj.deflate() for oid, obj in get_all_nested_objects(self.message).items()}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, rpc: str, body: bytes):  # noqa: ANN202 (a protobuf message)
        if rpc == "pull-task-input":
            context = Context(run_id=RUN_ID, node_id=NODE_ID, node_config={"partition-id": 0},
                              state=RecordDict(), run_config={})
            response = runtime_pb2.PullTaskInputResponse(context=serde.context_to_proto(context))
            response.run.run_id = RUN_ID
            response.fab.content = self.fab
            response.fab.hash_str = hashlib.sha256(self.fab).hexdigest()
            return response
        if rpc == "pull-messages":
            return runtime_pb2.PullAppMessagesResponse(
                messages_list=[serde.message_to_proto(self.message)],
                message_object_trees=[get_object_tree(self.message)])
        if rpc == "pull-object":
            request = message_pb2.PullObjectRequest.FromString(body)
            content = self.objects.get(request.object_id)
            return message_pb2.PullObjectResponse(object_found=content is not None,
                                                  object_available=content is not None,
                                                  object_content=content or b"")
        if rpc == "push-messages":
            request = runtime_pb2.PushAppMessagesRequest.FromString(body)
            return runtime_pb2.PushAppMessagesResponse(
                message_ids=[m.metadata.message_id for m in request.messages_list])
        if rpc == "push-task-output":
            self.task_output = runtime_pb2.PushTaskOutputRequest.FromString(body)
            if self.on_task_output is not None:
                self.on_task_output()
            self.done.set()
            return runtime_pb2.PushTaskOutputResponse()
        if rpc == "send-task-heartbeat":
            return runtime_pb2.SendTaskHeartbeatResponse(success=True)
        if rpc == "confirm-message-received":
            return message_pb2.ConfirmMessageReceivedResponse()
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                with api._lock:
                    if api.first_request_at is None:
                        api.first_request_at = time.monotonic()
                    api.paths.append(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                response = api._answer(self.path.removeprefix("/v1/runtime/"), body)
                if response is None:
                    self.send_error(404)
                    return
                data = response.SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/protobuf")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
