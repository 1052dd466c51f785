"""SuperExec authentication (`--superexec-auth-secret-file`, --isolation process) on our
SuperLink and SuperNode, side by side with the line's stock ones:

* the line's stock flower-superexec polling with the right secret is served, with a wrong one
  refused: each server logs "[<route>][ApiError:1008] SuperExec authentication failed for
  <method>." for its line's signed routes (1.36: pull-pending-tasks, 1.42: acquire-task);
* signed calls straight to the Runtime API (the in-process line's): the same status and body
  as stock for a good signature, a replay, a wrong secret and a missing header;
* an unreadable or empty secret file ends startup (ours: SuperLink, SuperNode, SuperExec) with
  stock's words.

No SuperLink is needed for the SuperNodes: their Runtime API serves without one."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from flwr.proto.runtime_pb2 import AcquireTaskRequest
from flwr.supercore.auth import create_superexec_auth_metadata, derive_auth_secret
from flwr.supercore.runtime_version_compatibility import RuntimeVersionMetadata
from harness import (
    IN_PROCESS,
    LINES,
    Line,
    Ports,
    Processes,
    base_env,
    free_port,
    superlink_argv,
    supernode_argv,
    wait_for_port,
)

SIGNED_ROUTES = {36: ("pull-pending-tasks", "PullPendingTasks"), 42: ("acquire-task", "AcquireTask")}


def signed_route(line: Line) -> tuple[str, str]:
    return SIGNED_ROUTES[36 if line.minor < 42 else 42]


def start_servers(procs: Processes, build_dir: Path, line: Line, component: str, secret: Path,
                  kinds: tuple[str, ...] = ("cpp", "python")) -> dict[str, int]:
    """Our and the line's stock `component` ("superlink" or "supernode"), --isolation process,
    with the SuperExec secret; returns each one's Runtime API port."""
    ports = {}
    for kind in kinds:
        auth = ["--isolation", "process", "--superexec-auth-secret-file", str(secret)]
        if component == "superlink":
            link_ports = Ports()
            argv = superlink_argv(kind, link_ports, ":flwr-in-memory:",
                                  build_dir / "superlink/flower-superlink", line) + auth
            ports[kind] = link_ports.runtime
        else:
            ports[kind] = free_port()
            # No SuperLink on this Fleet port: the Runtime API serves regardless.
            argv = supernode_argv(free_port(), ports[kind], "", kind=kind, build_dir=build_dir,
                                  isolation="process", line=line) + auth[2:]
        proc = procs.start(f"{component}-{kind}", argv)
        wait_for_port(ports[kind], proc=proc)
    return ports


def refusal(line: Line) -> str:
    route, method = signed_route(line)
    return (f"[/v1/runtime/{route}][ApiError:1008] SuperExec authentication failed for "
            f"/flwr.proto.Runtime/{method}.")


@pytest.mark.parametrize("component", ["supernode", "superlink"])
@pytest.mark.parametrize("line", LINES, ids=str)
def test_the_lines_stock_superexec_is_served_with_the_secret_and_refused_without(
        line: Line, component: str, tmp_path: Path, build_dir: Path) -> None:
    secret = tmp_path / "superexec.secret"
    secret.write_bytes(b"a shared secret\n")
    wrong = tmp_path / "wrong.secret"
    wrong.write_bytes(b"a shared secret")
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home", line))
    try:
        ports = start_servers(procs, build_dir, line, component, secret)
        for kind, port in ports.items():
            for name, secret_file in (("right", secret), ("wrong", wrong)):
                argv = [str(line.venv_bin / "flower-superexec"), "--insecure",
                        "--runtime-api-address", f"127.0.0.1:{port}",
                        "--superexec-auth-secret-file", str(secret_file)]
                if line.minor < 42:
                    argv += ["--plugin-type", "clientapp" if component == "supernode" else "serverapp"]
                procs.start(f"superexec-{name}-{kind}", argv,
                            env={"FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.2"})
        refusals = {kind: 0 for kind in ports}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(refusals.values()):
            time.sleep(0.5)
            refusals = {kind: procs.log(f"{component}-{kind}").count(refusal(line))
                        for kind in ports}
        assert all(refusals.values()), procs.logs()
        for kind in ports:
            assert "EXPERIMENTAL: SuperExec authentication is experimental" in procs.log(
                f"{component}-{kind}")
            procs.stop(f"superexec-wrong-{kind}")
        # With the wrong secret's SuperExecs gone, the refusals stop: the right secret's
        # SuperExecs, still polling, are served.
        before = {kind: procs.log(f"{component}-{kind}").count(refusal(line)) for kind in ports}
        time.sleep(2)
        after = {kind: procs.log(f"{component}-{kind}").count(refusal(line)) for kind in ports}
        assert before == after, procs.logs()
        assert all(proc.poll() is None for name, proc in procs.procs if "right" in name), procs.logs()
    finally:
        procs.stop_all()


def signed_call(url: str, secret: bytes, headers: dict[str, str] | None = None,
                body: AcquireTaskRequest | None = None) -> tuple[int, str]:
    request = body or AcquireTaskRequest(supported_task_types=["clientapp"])
    all_headers = {
        "content-type": "application/protobuf",
        **dict(RuntimeVersionMetadata.from_local_component("SuperExec").as_metadata()),
        **(headers if headers is not None else create_superexec_auth_metadata(
            auth_secret=derive_auth_secret(secret), method="/flwr.proto.Runtime/AcquireTask",
            request=request)),
    }
    response = httpx.post(f"{url}/v1/runtime/acquire-task", content=request.SerializeToString(),
                          headers=all_headers, timeout=30)
    return response.status_code, response.text


@pytest.mark.skipif(IN_PROCESS.minor < 42, reason="acquire-task is Flower 1.42's route")
def test_signed_calls_answered_as_stock(tmp_path: Path, build_dir: Path) -> None:
    secret = tmp_path / "superexec.secret"
    secret.write_bytes(b"s3cret")
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home", IN_PROCESS))
    try:
        ports = start_servers(procs, build_dir, IN_PROCESS, "supernode", secret)
        answers = {}
        for kind, port in ports.items():
            url = f"http://127.0.0.1:{port}"
            good = create_superexec_auth_metadata(
                auth_secret=derive_auth_secret(b"s3cret"), method="/flwr.proto.Runtime/AcquireTask",
                request=AcquireTaskRequest(supported_task_types=["clientapp"]))
            old = create_superexec_auth_metadata(
                auth_secret=derive_auth_secret(b"s3cret"), method="/flwr.proto.Runtime/AcquireTask",
                request=AcquireTaskRequest(supported_task_types=["clientapp"]))
            old["flwr-superexec-ts"] = str(int(time.time()) - 400)
            answers[kind] = {
                "good": signed_call(url, b"s3cret", good),
                "replay": signed_call(url, b"s3cret", good),
                "wrong secret": signed_call(url, b"other"),
                "no signature": signed_call(url, b"s3cret", {
                    k: v for k, v in good.items() if k != "flwr-superexec-signature"}),
                "too old": signed_call(url, b"s3cret", old),
                "unsigned": signed_call(url, b"s3cret", {}),
            }
        assert answers["cpp"] == answers["python"], answers
        assert answers["cpp"]["good"][0] == 200
        assert all(status == 401 for case, (status, _) in answers["cpp"].items() if case != "good")
    finally:
        procs.stop_all()


@pytest.mark.parametrize("component, words", [
    ("superlink", "Failed to load SuperExec authentication secret"),
    ("supernode", "Failed to load SuperExec auth secret"),
    ("superexec", "Failed to load SuperExec authentication secret"),
])
@pytest.mark.parametrize("content", [None, b""], ids=["missing", "empty"])
def test_an_unusable_secret_file_ends_startup(component: str, words: str, content: bytes | None,
                                              tmp_path: Path, build_dir: Path) -> None:
    secret = tmp_path / "superexec.secret"
    if content is not None:
        secret.write_bytes(content)
    procs = Processes(tmp_path, base_env(tmp_path / "flwr_home"))
    if component == "superlink":
        argv = superlink_argv("cpp", Ports(), ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
        argv += ["--isolation", "process"]
    elif component == "supernode":
        argv = supernode_argv(free_port(), free_port(), "", kind="cpp", build_dir=build_dir,
                              isolation="process")
    else:
        argv = [str(build_dir / "superexec/flower-superexec"), "--insecure",
                "--runtime-api-address", f"127.0.0.1:{free_port()}"]
    proc = procs.start(component, argv + ["--superexec-auth-secret-file", str(secret)])
    assert proc.wait(timeout=30) == 1
    reason = "SuperExec auth secret must not be empty" if content is not None else (
        f"Failed to read SuperExec auth secret from file '{secret}': [Errno 2] No such file or "
        f"directory: '{secret}'")
    assert f"{words}: {reason}" in procs.log(component), procs.log(component)
