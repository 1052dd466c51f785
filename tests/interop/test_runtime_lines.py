"""The Runtime API across the pinned Flower lines (1.36: pull-pending-tasks + claim-task; 1.42:
acquire-task; each stock server rejects the other line's version headers with 412 code 1001):

* our SuperNode's Runtime API serves the line's stock flower-superexec (signing its calls with
  the SuperExec auth secret) and flwr-clientapp;
* our flower-superexec and our native flwr-clientapp follow the line of a stock SuperNode;
* the stock 1.42 SuperExec starts our native flwr-clientapp;
* TLS on our SuperNode's Runtime API (--ssl-*, and the old --appio-ssl-* names).

Every run goes through the line's stock CLI and must reach finished:completed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import (
    LINES,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    make_certificates,
    superlink_argv,
    supernode_argv,
    wait_for_port,
    wait_for_status,
    write_cli_config,
)

NEWEST = max(LINES, key=lambda line: line.minor)


def native_clientapp_dir(tmp_path: Path, build_dir: Path) -> Path:
    """A directory holding only our flwr-clientapp, to put first on PATH."""
    directory = tmp_path / "native_bin"
    directory.mkdir(exist_ok=True)
    target = build_dir / "clientapp/cli/flwr-clientapp"
    if not target.exists():
        pytest.fail(f"{target} is not built")
    (directory / "flwr-clientapp").symlink_to(target)
    return directory


class Federation:
    """A SuperLink of the line (ours or stock) with the line's CLI pointed at it."""

    def __init__(self, tmp_path: Path, build_dir: Path, line: Line, link: str) -> None:
        self.build_dir = build_dir
        self.line = line
        self.env = base_env(tmp_path / "flwr_home", line)
        self.ports = Ports()
        write_cli_config(tmp_path / "flwr_home", self.ports.control_for(line))
        self.procs = Processes(tmp_path, self.env)
        proc = self.procs.start("superlink", superlink_argv(
            link, self.ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line))
        wait_for_port(self.ports.control_for(line), proc=proc)
        wait_for_port(self.ports.fleet_for(line), proc=proc)

    def start_node(self, name: str, kind: str, partition: int, isolation: str,
                   extra: list[str] | None = None, env: dict[str, str] | None = None) -> int:
        """A SuperNode of the line (ours: 'cpp', or stock: 'python'); returns its Runtime API port."""
        port = free_port()
        argv = supernode_argv(self.ports.fleet_for(self.line), port,
                              f"partition-id={partition} num-partitions=2", kind=kind,
                              build_dir=self.build_dir, isolation=isolation, line=self.line)
        # --insecure stays: it is about the Fleet connection, not the Runtime API.
        proc = self.procs.start(name, argv + (extra or []), env=env)
        wait_for_port(port, proc=proc)
        return port

    def superexec(self, name: str, program: Path, port: int, tls_ca: Path | None = None,
                  plugin_type: bool = True, extra: list[str] | None = None,
                  env: dict[str, str] | None = None) -> None:
        """A flower-superexec serving the SuperNode whose Runtime API is on `port`."""
        argv = [str(program), "--runtime-api-address", f"127.0.0.1:{port}"]
        argv += ["--root-certificates", str(tls_ca)] if tls_ca else ["--insecure"]
        if plugin_type:
            argv += ["--plugin-type", "clientapp"]
        self.procs.start(name, argv + (extra or []), env=env)

    def run_to_completion(self, app_dir: Path) -> None:
        result = flwr(self.env, "run", str(app_dir), "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + self.procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        try:
            run = wait_for_status(self.env, run_id, "finished", timeout=180)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{self.procs.logs()}") from None
        assert run["status"] == "finished:completed", (run, self.procs.logs())


@pytest.mark.parametrize("line", LINES, ids=str)
def test_our_supernode_serves_the_lines_stock_superexec_and_clientapp(
        line: Line, tmp_path: Path, build_dir: Path) -> None:
    """The line's stock SuperLink and two of our SuperNodes (--isolation process, SuperExec
    authentication on), each served by the line's stock flower-superexec, which claims the task
    its line's way (signed as its line signs) and starts the line's stock flwr-clientapp."""
    fed = Federation(tmp_path, build_dir, line, "python")
    secret = tmp_path / "superexec.secret"
    secret.write_bytes(b"a shared secret\n")
    auth = ["--superexec-auth-secret-file", str(secret)]
    try:
        for i in range(2):
            port = fed.start_node(f"supernode{i}", "cpp", i, "process", extra=auth)
            fed.superexec(f"superexec{i}", line.venv_bin / "flower-superexec", port, extra=auth)
        fed.run_to_completion(copy_test_app("numpy_app", tmp_path / "numpy_app"))
        for i in range(2):
            log = fed.procs.log(f"supernode{i}")
            assert "Sent successfully" in log, fed.procs.logs()
            assert "SuperExec authentication failed" not in log, log
    finally:
        fed.procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_our_superexec_and_native_clientapp_follow_a_stock_supernode(
        line: Line, tmp_path: Path, build_dir: Path) -> None:
    """The line's stock SuperLink and SuperNodes (--isolation process, SuperExec authentication
    on), each served by our flower-superexec starting our native flwr-clientapp: both speak the
    SuperNode's line (1.42: acquire-task, signed as AcquireTask, and its version headers, after
    a 404 and a 412 for the 1.36 ones)."""
    fed = Federation(tmp_path, build_dir, line, "python")
    path = f"{native_clientapp_dir(tmp_path, build_dir)}:{fed.env['PATH']}"
    secret = tmp_path / "superexec.secret"
    secret.write_bytes(b"a shared secret\n")
    auth = ["--superexec-auth-secret-file", str(secret)]
    try:
        for i in range(2):
            port = fed.start_node(f"supernode{i}", "python", i, "process", extra=auth)
            # As the 1.42 SuperNode starts a SuperExec: no --plugin-type.
            fed.superexec(f"superexec{i}", build_dir / "superexec/flower-superexec", port,
                          plugin_type=line.minor < 42, extra=auth, env={"PATH": path})
        fed.run_to_completion(copy_test_app("native_numpy_app", tmp_path / "native_numpy_app"))
        assert "EXPERIMENTAL: SuperExec authentication" in fed.procs.log("supernode0")
        log = fed.procs.log("superexec0")
        assert "Running native ClientApp 'numpy-echo'" in log, fed.procs.logs()
        if line.version != LINES[0].version:
            # The SuperExec (a 404 on the primary line's task route) and the ClientApp (a 412).
            route = "acquire-task" if LINES[0].minor >= 42 else "pull-pending-tasks"
            assert f"has no {route} route: speaking Flower {line.version}" in log, log
            assert f"runs Flower {line.version}, not {LINES[0].version}" in log, log
    finally:
        fed.procs.stop_all()


def test_stock_superexec_of_the_newest_line_starts_our_native_clientapp(
        tmp_path: Path, build_dir: Path) -> None:
    """The newest line's stock SuperLink and SuperNodes (--isolation subprocess): the SuperNode's
    stock SuperExec acquires the task and starts the flwr-clientapp first on PATH, ours."""
    fed = Federation(tmp_path, build_dir, NEWEST, "python")
    path = f"{native_clientapp_dir(tmp_path, build_dir)}:{fed.env['PATH']}"
    try:
        for i in range(2):
            fed.start_node(f"supernode{i}", "python", i, "subprocess", env={"PATH": path})
        fed.run_to_completion(copy_test_app("native_numpy_app", tmp_path / "native_numpy_app"))
        assert "Running native ClientApp 'numpy-echo'" in fed.procs.log("supernode0"), fed.procs.logs()
    finally:
        fed.procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_tls_on_our_supernodes_runtime_api(line: Line, tmp_path: Path, build_dir: Path) -> None:
    """Our SuperNodes serve their Runtime API over TLS with a CA made here: one with --ssl-*
    (--isolation subprocess: it starts the line's stock flwr-clientapp with --root-certificates),
    one with the old --appio-ssl-* names (warned about) and --isolation process, served by our
    flower-superexec with --root-certificates."""
    ca, cert, key = make_certificates(tmp_path)
    fed = Federation(tmp_path, build_dir, line, "cpp")
    try:
        fed.start_node("supernode0", "cpp", 0, "subprocess",
                       extra=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                              "--ssl-ca-certfile", str(ca)])
        port = fed.start_node("supernode1", "cpp", 1, "process",
                              extra=["--appio-ssl-certfile", str(cert), "--appio-ssl-keyfile", str(key),
                                     "--appio-ssl-ca-certfile", str(ca)])
        fed.superexec("superexec1", build_dir / "superexec/flower-superexec", port, tls_ca=ca)
        fed.run_to_completion(copy_test_app("numpy_app", tmp_path / "numpy_app"))
        assert "running on https://" in fed.procs.log("supernode0"), fed.procs.logs()
        log = fed.procs.log("supernode1")
        assert "The `--appio-ssl-certfile` flag is deprecated; use `--ssl-certfile` instead." in log, log
    finally:
        fed.procs.stop_all()
