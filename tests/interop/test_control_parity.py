"""The Control rpcs that keep state beyond runs — the federation's apps, run series and
automations — against our SuperLink and each line's stock one side by side: the same calls get
the same answers (IDs and times normalised). 1.36 calls the gRPC Control API, 1.42 the HTTP one.
No CLI command of the pinned lines lists apps, run series or automations, so the rpcs are called
directly, with the line's wire format.

Both SuperLinks run with `--isolation process` and no SuperExec, so runs stay pending. The stock
SuperLink starts the runs of due automations when a SuperExec asks for tasks; the test asks as
one would (1.36: pull-pending-tasks, 1.42: acquire-task for no task type, which claims nothing)
until both have run them; ours schedules them itself. For run events the test claims a run's
task as a SuperExec would and pushes events as its app would."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.json_format import MessageToDict

from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

from flwr.proto import control_pb2, control_pb2_grpc, fab_pb2, runtime_pb2, task_pb2

from harness import LINES, Line, Ports, Processes, app_fab_bytes, base_env, superlink_argv, wait_for_superlink

DEFAULT = "@none/default"
APP_ID = "@flwrcpp/numpy-app"
PROTOBUF = {"content-type": "application/protobuf"}
# Fields whose values differ between two SuperLinks (random IDs, times).
ID_FIELDS = {"run_id", "series_id", "run_ids", "task_id"}
TIME = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.]+(\+00:00|Z)?")


FAB = app_fab_bytes("numpy_app")
FAB_HASH = hashlib.sha256(FAB).hexdigest()


def kebab(method: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", method).lower()


def normalise(value):
    """A response (MessageToDict) or error text with IDs and times replaced."""
    if isinstance(value, dict):
        return {k: ("ID" if k in ID_FIELDS else normalise(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\b\d{8,}\b", "ID", TIME.sub("TIME", value))
    return value


class Link:
    """A SuperLink (ours or stock) reached as the line's CLI and SuperExec reach it."""

    def __init__(self, line: Line, ports: Ports, superexec_headers: dict[str, str]) -> None:
        self.line = line
        self.url = f"http://127.0.0.1:{ports.runtime}"
        self.stub = control_pb2_grpc.ControlStub(grpc.insecure_channel(f"127.0.0.1:{ports.control}"))
        self.superexec_headers = superexec_headers

    def call(self, method: str, request) -> tuple:
        """("ok", response) or ("error", status, details) of a Control rpc."""
        response_type = getattr(control_pb2, f"{method}Response")
        if self.line.http_control:
            reply = httpx.post(f"{self.url}/v1/control/{kebab(method)}",
                               content=request.SerializeToString(), headers=PROTOBUF, timeout=30)
            if reply.status_code != 200:
                return "error", reply.status_code, reply.text
            return "ok", response_type.FromString(reply.content)
        try:
            return "ok", getattr(self.stub, method)(request, timeout=30)
        except grpc.RpcError as err:
            return "error", err.code().name, err.details()

    def runtime(self, route: str, body: bytes, token: str | None = None) -> bytes:
        headers = {**PROTOBUF, **self.superexec_headers, **({"flwr-task-token": token} if token else {})}
        reply = httpx.post(f"{self.url}/v1/runtime/{route}", content=body, headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.content

    def claim(self, run_id: int) -> str:
        """The token of the run's task, claimed as the line's SuperExec claims it (1.42's
        acquire-task takes the oldest pending task first: older runs' tasks are claimed too)."""
        if self.line.minor >= 42:
            while True:
                acquired = runtime_pb2.AcquireTaskResponse.FromString(self.runtime(
                    "acquire-task", runtime_pb2.AcquireTaskRequest(
                        supported_task_types=["flwr-serverapp"]).SerializeToString()))
                assert acquired.token, f"run {run_id} has no pending task"
                if acquired.task.run_id == run_id:
                    return acquired.token
        # 1.36's PullPendingTasksResponse{repeated Task tasks = 1} and ClaimTask{task_id = 1} ->
        # {token = 1}, which the primary line's stubs lack.
        tasks = [task_pb2.Task.FromString(value)
                 for _, value in fields(self.runtime("pull-pending-tasks", b""))]
        task_id = next(task.task_id for task in tasks if task.run_id == run_id)
        return dict(fields(self.runtime("claim-task", b"\x08" + _VarintBytes(task_id))))[1].decode()

    def stream_run_events(self, run_id: int) -> list[dict]:
        """The events StreamRunEvents streams for a finished run."""
        request = control_pb2.StreamRunEventsRequest(run_id=run_id)
        if not self.line.http_control:
            replies = list(self.stub.StreamRunEvents(request, timeout=30))
        else:
            body = httpx.post(f"{self.url}/v1/control/stream-run-events", content=request.SerializeToString(),
                              headers=PROTOBUF, timeout=30).content
            replies, pos = [], 0
            while pos < len(body):  # frames: a 4-byte big-endian size, then the message
                size = int.from_bytes(body[pos:pos + 4], "big")
                replies.append(control_pb2.StreamRunEventsResponse.FromString(body[pos + 4:pos + 4 + size]))
                pos += 4 + size
        return [normalise(MessageToDict(r, preserving_proto_field_name=True)) for r in replies]

    def ask_for_tasks(self) -> None:
        """What a SuperExec's poll does: the stock SuperLink starts due automations' runs."""
        route, body = ("acquire-task", b"") if self.line.minor >= 42 else ("pull-pending-tasks", b"")
        reply = httpx.post(f"{self.url}/v1/runtime/{route}", content=body,
                           headers={**PROTOBUF, **self.superexec_headers}, timeout=30)
        assert reply.status_code == 200, reply.text


def fields(data: bytes) -> list[tuple[int, bytes | int]]:
    """The fields of an encoded protobuf message with varint and length-delimited fields."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _DecodeVarint(data, pos)
        value, pos = _DecodeVarint(data, pos)
        if key & 7 == 2:
            value, pos = data[pos:pos + value], pos + value
        out.append((key >> 3, value))
    return out


def answer(result: tuple):
    """A call's result, comparable between two SuperLinks."""
    if result[0] == "ok":
        return "ok", normalise(MessageToDict(result[1], preserving_proto_field_name=True))
    return "error", result[1], normalise(result[2])


@pytest.fixture(scope="module", params=LINES, ids=str)
def links(request, tmp_path_factory, build_dir: Path):
    """Per line: our SuperLink ('cpp') and the stock one ('python')."""
    line: Line = request.param
    tmp = tmp_path_factory.mktemp(f"parity-{line}")
    headers = json.loads(subprocess.run(
        [str(line.venv_bin / "python"), "-c",
         "import json; from flwr.supercore.runtime_version_compatibility import "
         "RuntimeVersionMetadata as M; "
         "print(json.dumps(dict(M.from_local_component('SuperExec').as_metadata())))"],
        capture_output=True, text=True, check=True).stdout)
    procs = Processes(tmp, base_env(tmp / "home", line))
    started = {}
    for kind in ("cpp", "python"):
        ports = Ports()
        argv = superlink_argv(kind, ports, ":flwr-in-memory:",
                              build_dir / "superlink/flower-superlink", line)
        started[kind] = (ports, procs.start(kind, argv + ["--isolation", "process"]))
    for ports, proc in started.values():
        wait_for_superlink(ports, proc, line)
    yield {kind: Link(line, ports, headers) for kind, (ports, _) in started.items()}
    procs.stop_all()


def both(links, method: str, request) -> dict[str, tuple]:
    return {kind: link.call(method, request) for kind, link in links.items()}


def assert_same(results: dict[str, tuple]) -> None:
    assert answer(results["cpp"]) == answer(results["python"])


def start_run(links, series: dict[str, int] | None = None) -> dict[str, control_pb2.StartRunResponse]:
    """A run of the numpy app on each side (in each side's series `series`, if given)."""
    results = {}
    for kind, link in links.items():
        request = control_pb2.StartRunRequest(fab=fab_pb2.Fab(hash_str=FAB_HASH, content=FAB))
        if series is not None:
            request.series_id = series[kind]
        results[kind] = link.call("StartRun", request)
    assert_same(results)
    assert results["cpp"][0] == "ok", results
    return {kind: result[1] for kind, result in results.items()}


def test_a_runs_app_is_listed_and_can_be_removed(links) -> None:
    start_run(links)
    listed = both(links, "ListApps", control_pb2.ListAppsRequest(federation_id=DEFAULT))
    assert_same(listed)
    assert [app.app_id for app in listed["cpp"][1].apps] == [APP_ID, "@flwrlabs/flwr-agent"]
    assert_same(both(links, "ListApps", control_pb2.ListAppsRequest(federation_id=DEFAULT, limit=1)))
    if links["cpp"].line.minor >= 42:  # ListAppAssociations is Flower 1.42's
        assert_same(both(links, "ListAppAssociations",
                         control_pb2.ListAppAssociationsRequest(app_id=APP_ID)))
    # The stored app starts again from its ID and FAB hash alone.
    stored = control_pb2.StartRunRequest(app_spec=APP_ID, fab=fab_pb2.Fab(hash_str=FAB_HASH))
    started = both(links, "StartRun", stored)
    assert_same(started)
    assert started["cpp"][0] == "ok", started
    assert_same(both(links, "StartRun", control_pb2.StartRunRequest(
        app_spec="@flwrcpp/other", fab=fab_pb2.Fab(hash_str=FAB_HASH))))
    assert_same(both(links, "RemoveApp", control_pb2.RemoveAppRequest(federation_id=DEFAULT, app_id=APP_ID)))
    listed = both(links, "ListApps", control_pb2.ListAppsRequest(federation_id=DEFAULT))
    assert_same(listed)
    assert [app.app_id for app in listed["cpp"][1].apps] == ["@flwrlabs/flwr-agent"]


def test_runs_join_a_series_whose_description_is_kept(links) -> None:
    first = start_run(links)
    series = {kind: response.series_id for kind, response in first.items()}
    start_run(links, series)
    assert_same(both(links, "StartRun", control_pb2.StartRunRequest(
        fab=fab_pb2.Fab(hash_str=FAB_HASH, content=FAB), series_id=4242)))
    line = links["cpp"].line
    if line.minor >= 42:  # UpdateRunSeriesDescription is Flower 1.42's
        described = {kind: link.call("UpdateRunSeriesDescription",
                                     control_pb2.UpdateRunSeriesDescriptionRequest(
                                         series_id=series[kind], description="  a federated study "))
                     for kind, link in links.items()}
        assert_same(described)
    got = {kind: link.call("GetRunSeries", control_pb2.GetRunSeriesRequest(series_id=series[kind]))
           for kind, link in links.items()}
    assert got["cpp"][0] == "ok", got
    assert (answer(("ok", got["cpp"][1].series)) == answer(("ok", got["python"][1].series)))
    # The whole answer: the series, its runs and the context a joining run starts from.
    assert answer(got["cpp"]) == answer(got["python"])
    assert got["cpp"][1].HasField("context")
    assert len(got["cpp"][1].series.run_ids) == 2
    assert got["cpp"][1].series.description == ("a federated study" if line.minor >= 42 else "")
    assert_same(both(links, "ListRunSeries", control_pb2.ListRunSeriesRequest(federation_id=DEFAULT)))
    assert_same(both(links, "ListRunSeries", control_pb2.ListRunSeriesRequest(limit=1)))


def automations(links) -> dict[str, tuple]:
    return both(links, "ListAutomations", control_pb2.ListAutomationsRequest(federation=DEFAULT))


def test_an_automation_starts_its_runs_when_due(links) -> None:
    series = {kind: response.series_id for kind, response in start_run(links).items()}
    started = {kind: link.call("StartAutomation", control_pb2.StartAutomationRequest(
        start_run_request=control_pb2.StartRunRequest(
            fab=fab_pb2.Fab(hash_str=FAB_HASH, content=FAB), series_id=series[kind]),
        fixed_interval=1, max_runs=2)) for kind, link in links.items()}
    assert_same(started)
    assert started["cpp"][0] == "ok", started
    ids = {kind: result[1].automation_id for kind, result in started.items()}

    def status(kind: str) -> str:
        listed = links[kind].call("ListAutomations", control_pb2.ListAutomationsRequest())
        return next(a.status for a in listed[1].automations if a.automation_id == ids[kind])

    deadline = time.monotonic() + 30
    while {status(kind) for kind in links} != {"completed"} and time.monotonic() < deadline:
        for link in links.values():
            link.ask_for_tasks()
        time.sleep(0.2)
    assert {kind: status(kind) for kind in links} == {"cpp": "completed", "python": "completed"}
    assert_same(automations(links))
    for kind, link in links.items():
        got = link.call("GetRunSeries", control_pb2.GetRunSeriesRequest(series_id=series[kind]))
        assert len(got[1].series.run_ids) == 3, kind


def test_a_stopped_automation_starts_no_runs(links) -> None:
    series = {kind: response.series_id for kind, response in start_run(links).items()}
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    started = {kind: link.call("StartAutomation", control_pb2.StartAutomationRequest(
        start_run_request=control_pb2.StartRunRequest(
            fab=fab_pb2.Fab(hash_str=FAB_HASH, content=FAB), series_id=series[kind]),
        start_at=later, fixed_interval=60)) for kind, link in links.items()}
    assert_same(started)
    stopped = {kind: link.call("StopAutomation", control_pb2.StopAutomationRequest(
        automation_id=started[kind][1].automation_id)) for kind, link in links.items()}
    assert_same(stopped)
    listed = automations(links)
    assert_same(listed)
    assert listed["cpp"][1].automations[0].status == "stopped"
    assert_same(both(links, "StopAutomation", control_pb2.StopAutomationRequest(automation_id=4242)))


@pytest.mark.parametrize("request_fields", [
    {"start_at": "2026-01-01T10:00:00"},
    {"start_at": "tomorrow"},
    {"max_runs": 3},
    {"fixed_interval": 0},
], ids=str)
def test_an_invalid_automation_is_refused_as_stock_refuses_it(links, request_fields) -> None:
    assert_same(both(links, "StartAutomation", control_pb2.StartAutomationRequest(
        start_run_request=control_pb2.StartRunRequest(series_id=1), **request_fields)))


def test_a_runs_task_events_are_listed_and_streamed(links) -> None:
    started = start_run(links)
    for kind, link in links.items():
        token = link.claim(started[kind].run_id)
        events = [task_pb2.TaskEvent(event="message", data=json.dumps({"n": n})) for n in (1, 2)]
        link.runtime("push-task-events", runtime_pb2.PushTaskEventsRequest(events=events).SerializeToString(),
                     token)
        # A batch with one invalid data is dropped whole (logged), as stock drops it.
        invalid = [task_pb2.TaskEvent(event="message", data="{}"), task_pb2.TaskEvent(event="x", data="[]")]
        link.runtime("push-task-events", runtime_pb2.PushTaskEventsRequest(events=invalid).SerializeToString(),
                     token)
    if links["cpp"].line.minor >= 42:  # ListRunSeriesEvents is Flower 1.42's
        listed = {kind: link.call("ListRunSeriesEvents", control_pb2.ListRunSeriesEventsRequest(
            series_id=started[kind].series_id)) for kind, link in links.items()}
        assert_same(listed)
        assert [e.data for e in listed["cpp"][1].events] == ['{"n": 1}', '{"n": 2}']
    assert_same({kind: link.call("StopRun", control_pb2.StopRunRequest(run_id=started[kind].run_id))
                 for kind, link in links.items()})
    streamed = {kind: link.stream_run_events(started[kind].run_id) for kind, link in links.items()}
    assert streamed["cpp"] == streamed["python"]
    assert len(streamed["cpp"]) == 2


def test_a_run_carries_an_account_name_only_in_ls(links) -> None:
    """As flwr's Run: the stored run has no account name; the run the ServerApp's task pulls
    (Runtime API pull-task-input) comes without one, and only ListRuns names the caller's account."""
    started = start_run(links)
    got = {}
    for kind, link in links.items():
        token = link.claim(started[kind].run_id)
        got[kind] = ("ok", runtime_pb2.PullTaskInputResponse.FromString(
            link.runtime("pull-task-input", b"", token)).run)
    ours, theirs = answer(got["cpp"])[1], answer(got["python"])[1]
    assert ours == theirs, {k: (ours.get(k), theirs.get(k)) for k in {*ours, *theirs} if ours.get(k) != theirs.get(k)}
    assert got["cpp"][1].run_id == started["cpp"].run_id
    assert got["cpp"][1].account_name == ""
    listed = {kind: link.call("ListRuns", control_pb2.ListRunsRequest(run_id=started[kind].run_id))
              for kind, link in links.items()}
    assert listed["cpp"][0] == "ok", listed
    runs = {kind: list(result[1].run_dict.values()) for kind, result in listed.items()}
    assert [r.account_name for r in runs["cpp"]] == [r.account_name for r in runs["python"]] == ["none"]


@pytest.mark.parametrize("method", ["UpdateRunSeriesDescription", "ListRunSeriesEvents",
                                    "ListAppAssociations", "SetFederationIcon"])
def test_rpcs_flower_142_added_answer_as_each_lines_stock(links, method: str) -> None:
    """Empty requests of the rpcs 1.42 added: on 1.42 both SuperLinks answer alike (an error
    about the missing IDs, or an answer); the stock 1.36 SuperLink has none of them and answers
    UNKNOWN "Error in service handler!" over gRPC, and so does ours to a 1.36 caller."""
    results = both(links, method, getattr(control_pb2, f"{method}Request")())
    assert_same(results)
    if links["cpp"].line.minor < 42:
        assert results["cpp"] == ("error", "UNKNOWN", "Error in service handler!"), results
