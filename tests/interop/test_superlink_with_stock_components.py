"""C++ SuperLink driven by the stock `flwr` CLI, with stock Python SuperNodes and the stock
Python ServerApp executor (flower-superexec + flwr-serverapp) — compared with the stock Python
SuperLink in the same test. Tests marked with `line` run for every pinned Flower line: the 1.36
CLI and SuperNodes speak gRPC Control and Fleet, the 1.42 ones HTTP on the SuperLink's port."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from harness import (
    LINES,
    PRIMARY,
    Line,
    Ports,
    Processes,
    base_env,
    copy_test_app,
    flwr,
    free_port,
    list_runs,
    make_certificates,
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


def start_federation(kind: str, tmp_path: Path, build_dir: Path, database: str, nodes: int = 2,
                     line: Line = PRIMARY):
    """A SuperLink (ours or the line's stock one), `nodes` stock SuperNodes of the line, and the
    line's CLI pointed at the SuperLink."""
    flwr_home = tmp_path / "flwr_home"
    env = base_env(flwr_home, line)
    ports = Ports()
    write_cli_config(flwr_home, ports.control_for(line))
    procs = Processes(tmp_path, env)
    link = procs.start("superlink", superlink_argv(kind, ports, database,
                                                   build_dir / "superlink/flower-superlink", line))
    wait_for_port(ports.control_for(line), proc=link)
    wait_for_port(ports.fleet_for(line), proc=link)
    for i in range(nodes):
        procs.start(f"supernode{i}", supernode_argv(ports.fleet_for(line), free_port(),
                                                    f"partition-id={i} num-partitions={nodes}", line=line))
    return procs, env, ports


# Our SuperLink on both state backends; the stock one (the reference) in memory only.
@pytest.mark.parametrize("line", LINES, ids=str)
@pytest.mark.parametrize("kind,db", [("cpp", "memory"), ("cpp", "sqlite"), ("python", "memory")])
def test_flwr_run_completes(line: Line, kind: str, db: str, tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    database = ":flwr-in-memory:" if db == "memory" else str(tmp_path / "state.db")
    procs, env, _ = start_federation(kind, tmp_path, build_dir, database, line=line)
    try:
        result = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        run = wait_for_status(env, run_id, "finished", timeout=180)
        assert run["status"] == "finished:completed", (run, procs.logs())
        assert run["fab-id"] == "flwrcpp/numpy-app"
        assert run["network-traffic"]["total-bytes"] > 0
        log = flwr(env, "log", run_id, "--show", timeout=60)
        assert "round 3: 2 replies, mean weight 3.000" in log.stdout, log.stdout + log.stderr
    finally:
        procs.stop_all()


def test_restart_on_sqlite_keeps_runs_and_nodes(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """Kill the C++ SuperLink (SIGKILL), restart it on the same SQLite file: finished runs, the
    FAB and the registered SuperNodes are still there, and a new run completes with them."""
    database = str(tmp_path / "state.db")
    procs, env, ports = start_federation("cpp", tmp_path, build_dir, database)
    try:
        first = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert first.returncode == 0, first.stdout + first.stderr
        first_id = re.search(r'"run-id": "(\d+)"', first.stdout).group(1)
        before = wait_for_status(env, first_id, "finished", timeout=180)
        assert before["status"] == "finished:completed", procs.logs()

        procs.stop("superlink", signal.SIGKILL)
        argv = superlink_argv("cpp", ports, database, build_dir / "superlink/flower-superlink")
        wait_for_superlink(ports, procs.start("superlink-restarted", argv))
        after = {r["run-id"]: r for r in list_runs(env)}
        assert after[first_id]["status"] == "finished:completed"
        assert after[first_id]["fab-hash"] == before["fab-hash"]

        second = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        second_id = re.search(r'"run-id": "(\d+)"', second.stdout).group(1)
        run = wait_for_status(env, second_id, "finished", timeout=180)
        assert run["status"] == "finished:completed", procs.logs()
    finally:
        procs.stop_all()


def run_and_follow(kind: str, tmp_path: Path, build_dir: Path, app_dir: Path,
                   line: Line) -> tuple[dict, str]:
    """`flwr run`, then `flwr log RUN_ID` following the stream until the run ends."""
    procs, env, _ = start_federation(kind, tmp_path, build_dir, ":flwr-in-memory:", line=line)
    try:
        result = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        follow = flwr(env, "log", run_id, timeout=240)
        assert follow.returncode == 0, follow.stdout + follow.stderr + procs.logs()
        run = wait_for_status(env, run_id, "finished", timeout=60)
        return run, follow.stdout
    finally:
        procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_ls_and_log_match_the_python_superlink(line: Line, tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """The same app on both SuperLinks: `flwr log` follows to the end, `flwr ls --format json`
    describes the finished run with the same fields and values."""
    runs, logs = {}, {}
    for kind in ("python", "cpp"):
        runs[kind], logs[kind] = run_and_follow(kind, tmp_path / kind, build_dir, app_dir, line)
    for kind in ("python", "cpp"):
        assert "round 3: 2 replies, mean weight 3.000" in logs[kind], (kind, logs[kind])
        assert "final mean weight 3.000" in logs[kind], (kind, logs[kind])
    py, cpp = runs["python"], runs["cpp"]
    assert set(cpp) == set(py)
    assert set(cpp["network-traffic"]) == set(py["network-traffic"])
    assert set(cpp["compute-time"]) == set(py["compute-time"])
    for key in ("federation-id", "fab-id", "fab-name", "fab-version", "fab-hash", "status", "status-details"):
        assert cpp[key] == py[key], key
    for key in ("pending-at", "starting-at", "running-at", "finished-at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", cpp[key]), (key, cpp[key])


@pytest.mark.parametrize("line", LINES, ids=str)
@pytest.mark.parametrize("kind", ["cpp", "python"])
def test_flwr_stop_stops_a_long_run(line: Line, kind: str, tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    procs, env, _ = start_federation(kind, tmp_path, build_dir, ":flwr-in-memory:", line=line)
    try:
        result = flwr(env, "run", str(app_dir), "--format", "json", "--run-config",
                      "num-server-rounds=1000 round-sleep=0.5", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        wait_for_status(env, run_id, "running", timeout=120)
        stop = flwr(env, "stop", run_id, timeout=60)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        run = wait_for_status(env, run_id, "finished", timeout=60)
        assert run["status"] == "finished:stopped"
        again = flwr(env, "stop", run_id, timeout=60)
        assert again.returncode != 0
        assert "Run is already finished" in again.stdout + again.stderr
    finally:
        procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_unknown_run_id_is_a_clear_cli_error(line: Line, tmp_path: Path, build_dir: Path) -> None:
    procs, env, _ = start_federation("cpp", tmp_path, build_dir, ":flwr-in-memory:", nodes=0, line=line)
    try:
        result = flwr(env, "ls", "--run-id", "12345", timeout=60)
        assert result.returncode != 0
        assert "Run ID not found" in result.stdout + result.stderr
    finally:
        procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
@pytest.mark.parametrize("executor", ["stock", "cpp"])
def test_isolation_process_with_an_external_superexec(line: Line, executor: str, tmp_path: Path, build_dir: Path,
                                                      app_dir: Path) -> None:
    """`--isolation process`: the SuperLink starts nothing; an external SuperExec (as a separate
    container would), the line's stock one (1.36: pull-pending-tasks + claim-task; 1.42:
    acquire-task) or ours, claims the run over the Runtime API and completes it with the line's
    stock flwr-serverapp."""
    flwr_home = tmp_path / "flwr_home"
    env = base_env(flwr_home, line)
    ports = Ports()
    write_cli_config(flwr_home, ports.control_for(line))
    procs = Processes(tmp_path, env)
    try:
        argv = superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink", line)
        link = procs.start("superlink", argv + ["--isolation", "process"])
        wait_for_port(ports.runtime, proc=link)
        for i in range(2):
            procs.start(f"supernode{i}", supernode_argv(ports.fleet_for(line), free_port(),
                                                        f"partition-id={i} num-partitions=2", line=line))
        result = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        time.sleep(3)
        assert list_runs(env)[0]["status"] == "pending"  # nobody runs ServerApps yet
        program = (build_dir / "superexec" / "flower-superexec") if executor == "cpp" else (
            Path(env["PATH"].split(":")[0]) / "flower-superexec")
        procs.start("superexec", [str(program), "--insecure",
                                  "--plugin-type", "serverapp", "--runtime-api-address",
                                  f"127.0.0.1:{ports.runtime}"])
        run = wait_for_status(env, run_id, "finished", timeout=180)
        assert run["status"] == "finished:completed", procs.logs()
    finally:
        procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_tls_with_stock_supernodes_and_cli(line: Line, tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """TLS with --ssl-* (1.36: gRPC Fleet and Control; 1.42: also the HTTP port, where the CLI,
    the SuperNodes and the ServerApp the SuperLink starts connect), the line's stock CLI, a stock
    and a C++ SuperNode with the CA certificate (--root-certificates). On 1.36 the Runtime API
    (the HTTP port) has TLS of its own, from another CA (--appio-ssl-*): the ServerApp the
    SuperLink starts must verify it with that one."""
    ca, cert, key = make_certificates(tmp_path)
    (tmp_path / "appio").mkdir()
    appio_ca, appio_cert, appio_key = make_certificates(tmp_path / "appio")
    flwr_home = tmp_path / "flwr_home"
    env = base_env(flwr_home, line)
    ports = Ports()
    flwr_home.mkdir()
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "tls"\n\n[superlink.tls]\naddress = "127.0.0.1:{ports.control_for(line)}"\n'
        f'root-certificates = "{ca}"\n')
    procs = Processes(tmp_path, env)
    try:
        argv = [a for a in superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink",
                                          line)
                if a != "--insecure"]
        argv += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ssl-ca-certfile", str(ca)]
        if not line.http_control:
            argv += ["--appio-ssl-certfile", str(appio_cert), "--appio-ssl-keyfile", str(appio_key),
                     "--appio-ssl-ca-certfile", str(appio_ca)]
        link = procs.start("superlink", argv)
        wait_for_port(ports.control_for(line), proc=link)
        kinds = ("python", "cpp")
        for i, kind in enumerate(kinds):
            node = [a for a in supernode_argv(ports.fleet_for(line), free_port(), f"partition-id={i} num-partitions=2",
                                              kind=kind, build_dir=build_dir, line=line)
                    if a != "--insecure"]
            procs.start(f"supernode{i}", node + ["--root-certificates", str(ca)])
        result = flwr(env, "run", str(app_dir), "--format", "json", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
        run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
        run = wait_for_status(env, run_id, "finished", timeout=180)
        assert run["status"] == "finished:completed", procs.logs()
    finally:
        procs.stop_all()


@pytest.mark.parametrize("line", LINES, ids=str)
def test_login_answers_as_the_python_superlink(line: Line, tmp_path: Path, build_dir: Path) -> None:
    """Without account authentication, `flwr login` says so the same way on both SuperLinks."""
    outputs = {}
    for kind in ("python", "cpp"):
        procs, env, ports = start_federation(kind, tmp_path / kind, build_dir, ":flwr-in-memory:",
                                             nodes=0, line=line)
        try:
            result = flwr(env, "login", timeout=60)
            text = (result.stdout + result.stderr).replace(str(ports.control_for(line)), "PORT")
            outputs[kind] = (result.returncode, text)
        finally:
            procs.stop_all()
    assert outputs["cpp"] == outputs["python"]


@pytest.mark.skipif(len({line.http_fleet for line in LINES}) < 2,
                    reason="needs a gRPC-Fleet line and an HTTP-Fleet line")
def test_rolling_upgrade_one_run_with_old_and_new_supernodes(tmp_path: Path, build_dir: Path, app_dir: Path) -> None:
    """Beyond stock: one C++ SuperLink serves a stock SuperNode of each pinned line in the same
    run — the old one over gRPC Fleet, the new one over HTTP on the SuperLink's port, each
    running its own line's ClientApp — driven by each line's CLI in turn."""
    lines = sorted(LINES, key=lambda line: line.minor)
    old, new = lines[0], lines[-1]
    flwr_home = tmp_path / "flwr_home"
    env = base_env(flwr_home, new)
    ports = Ports()
    procs = Processes(tmp_path, env)
    try:
        link = procs.start("superlink", superlink_argv("cpp", ports, ":flwr-in-memory:",
                                                       build_dir / "superlink/flower-superlink", new))
        wait_for_port(ports.runtime, proc=link)
        wait_for_port(ports.fleet, proc=link)
        for i, line in enumerate((old, new)):
            procs.start(f"supernode-{line}",
                        supernode_argv(ports.fleet_for(line), free_port(), f"partition-id={i} num-partitions=2",
                                       line=line),
                        env=base_env(tmp_path / f"home-{line}", line))
        for line in (new, old):
            cli_env = base_env(tmp_path / f"cli-{line}", line)
            write_cli_config(tmp_path / f"cli-{line}", ports.control_for(line))
            result = flwr(cli_env, "run", str(app_dir), "--format", "json", timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr + procs.logs()
            run_id = re.search(r'"run-id": "(\d+)"', result.stdout).group(1)
            run = wait_for_status(cli_env, run_id, "finished", timeout=180)
            assert run["status"] == "finished:completed", procs.logs()
            log = flwr(cli_env, "log", run_id, "--show", timeout=60).stdout
            assert "round 3: 2 replies, mean weight 3.000" in log, log + procs.logs()
        for line in (old, new):
            assert "Received successfully" in procs.log(f"supernode-{line}"), procs.logs()
    finally:
        procs.stop_all()
