"""flower-superlink's command line: the Python SuperLink's flags, clear errors for the rest."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from harness import (
    LINES,
    Line,
    Ports,
    Processes,
    base_env,
    flwr,
    make_certificates,
    superlink_argv,
    wait_for_port,
    wait_for_superlink,
    write_cli_config,
)


def run(build_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(build_dir / "superlink/flower-superlink"), *args],
                          capture_output=True, text=True, timeout=30)


def test_help_lists_the_python_superlinks_flags(build_dir: Path) -> None:
    out = run(build_dir, "--help")
    assert out.returncode == 0
    for flag in ("--insecure", "--ssl-certfile", "--ssl-keyfile", "--ssl-ca-certfile", "--isolation",
                 "--database", "--fleet-api-address", "--control-api-address", "--host", "--port",
                 "--disable-runtime-dependency-installation"):
        assert flag in out.stdout, flag


def test_version_is_the_pinned_flower_version(build_dir: Path, pinned_flwr_version: str) -> None:
    out = run(build_dir, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"Flower version: {pinned_flwr_version}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-such-flag"], "--no-such-flag"),
        (["--insecure", "--isolation", "thread"], "--isolation"),
        (["--insecure", "--serverappio-api-address", "127.0.0.1:9091"], "use --host and --port"),
        (["--insecure", "--port", "70000"], "--port"),
        (["--insecure", "--log-rotation-interval-hours", "0"], "value must be >= 1"),
        (["--insecure", "--log-rotation-backup-count", "1.5"], "invalid _positive_int value: '1.5'"),
        ([], "--insecure"),
    ],
)
def test_bad_flags_are_a_one_line_error_and_exit_2(build_dir: Path, args: list[str], message: str) -> None:
    out = run(build_dir, *args)
    assert out.returncode == 2, out
    assert message in out.stderr + out.stdout


@pytest.mark.parametrize("args", [
    ["--insecure", "--enable-supernode-auth"],
    ["--insecure", "--auth-list-public-keys", "keys.csv"],
    ["--insecure", "--executor", "subprocess"],
], ids=["supernode-auth-without-tls", "auth-list-public-keys", "executor"])
def test_invalid_args_exit_as_stock_with_code_104(flwr_line: str, build_dir: Path, tmp_path: Path,
                                                   args: list[str]) -> None:
    """Stock refuses these through flwr_exit(SUPERLINK_INVALID_ARGS): exit status 1 and the same
    "Exit Code: 104" text (the docs' version in the links aside). 1.36's retired --executor is
    refused so on both lines (1.42's argparse no longer knows it)."""
    line = Line(flwr_line)
    if "--executor" in args and line.minor >= 42:
        line = Line(next(v.version for v in LINES if v.minor < 42))
    answers = {}
    for kind, program in (("cpp", str(build_dir / "superlink/flower-superlink")),
                          ("python", str(line.venv_bin / "flower-superlink"))):
        out = subprocess.run([program, *args], capture_output=True, text=True, timeout=60,
                             env=base_env(tmp_path / kind, line))
        text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
        exit_text = text[text.find("Exit Code: "):] if "Exit Code: " in text else text
        answers[kind] = (out.returncode, re.sub(r"v?\d+\.\d+(\.\d+)?(?=/en/)", "VERSION", exit_text))
    assert answers["cpp"] == answers["python"], answers
    assert answers["cpp"][0] == 1 and answers["cpp"][1].startswith("Exit Code: 104\n"), answers


@pytest.mark.parametrize("appio, message", [
    (["--appio-ssl-certfile", "CERT"], "You need to provide valid file paths to `--appio-ssl-certfile`, "
                                      "`--appio-ssl-keyfile`, and `--appio-ssl-ca-certfile`"),
    (["--appio-ssl-certfile", "CERT", "--appio-ssl-keyfile", "KEY", "--appio-ssl-ca-certfile", "missing.pem"],
     "Path argument `--appio-ssl-ca-certfile` does not point to a file."),
])
def test_bad_runtime_tls_flags_are_stocks_one_line_error(build_dir: Path, tmp_path: Path, appio: list[str],
                                                         message: str) -> None:
    """Flower 1.36's --appio-ssl-*: all three or none, existing files (stock's messages)."""
    ca, cert, key = make_certificates(tmp_path)
    files = {"CERT": str(cert), "KEY": str(key)}
    out = run(build_dir, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--ssl-ca-certfile", str(ca),
              *[files.get(a, a) for a in appio])
    assert out.returncode == 1, out
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_port_in_use_is_a_clear_error(build_dir: Path, tmp_path: Path) -> None:
    ports = Ports()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports.fleet))
        busy.listen()
        out = subprocess.run(
            superlink_argv("cpp", ports, ":flwr-in-memory:", build_dir / "superlink/flower-superlink")
            + ["--isolation", "process"],
            capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "already in use" in out.stderr


def test_sigterm_shuts_down_cleanly(build_dir: Path, tmp_path: Path) -> None:
    ports = Ports()
    procs = Processes(tmp_path, base_env(tmp_path / "home"))
    proc = procs.start("superlink", superlink_argv("cpp", ports, ":flwr-in-memory:",
                                                   build_dir / "superlink/flower-superlink")
                       + ["--isolation", "process"])
    wait_for_port(ports.control, proc=proc)
    assert procs.stop("superlink") == 0
    assert "Starting Flower SuperLink" in procs.log("superlink")


def test_disable_grpc_apis_serves_only_the_http_port(build_dir: Path, tmp_path: Path) -> None:
    """--disable-grpc-apis: no gRPC Fleet or Control listener, as a stock 1.42 SuperLink; the
    HTTP line's CLI still reaches Control on the HTTP port."""
    line = next((line for line in LINES if line.http_control), None)
    if line is None:
        pytest.skip("no pinned Flower line with the HTTP Control API")
    ports = Ports()
    env = base_env(tmp_path / "home", line)
    write_cli_config(tmp_path / "home", ports.runtime)
    procs = Processes(tmp_path, env)
    try:
        proc = procs.start("superlink", superlink_argv("cpp", ports, ":flwr-in-memory:",
                                                       build_dir / "superlink/flower-superlink", line)
                           + ["--isolation", "process", "--disable-grpc-apis"])
        wait_for_port(ports.runtime, proc=proc)
        for port in (ports.fleet, ports.control):
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, port
        result = flwr(env, "ls", "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Starting Fleet API" not in procs.log("superlink")
    finally:
        procs.stop_all()


# A line of the stock SuperLink's --log-file: "%(levelname)s %(name)s %(asctime)s |
# %(filename)s:%(lineno)d | %(message)s".
LOG_FILE_LINE = re.compile(
    r"(DEBUG|INFO|WARNING|ERROR) flwr \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} \| [\w.]+\.(py|cc):\d+ \| (.*)")


def test_log_file_has_the_stock_superlinks_lines(build_dir: Path, tmp_path: Path) -> None:
    """Our SuperLink and the stock one with --log-file: the same line format (times and
    source locations aside), the same messages for the same start-up, still on the console."""
    procs = Processes(tmp_path, base_env(tmp_path / "home"))
    messages = {}
    for kind in ("cpp", "python"):
        ports = Ports()
        log_file = tmp_path / kind / "superlink.log"
        log_file.parent.mkdir()
        proc = procs.start(kind, superlink_argv(kind, ports, ":flwr-in-memory:",
                                                build_dir / "superlink/flower-superlink")
                           + ["--isolation", "process", "--log-file", str(log_file),
                              "--log-rotation-interval-hours", "2", "--log-rotation-backup-count", "3"])
        wait_for_superlink(ports, proc)
        procs.stop(kind)
        lines = log_file.read_text().splitlines()
        assert lines and all(LOG_FILE_LINE.fullmatch(line) for line in lines), lines
        messages[kind] = [LOG_FILE_LINE.fullmatch(line).expand(r"\1 \3") for line in lines]
        assert "Starting Flower SuperLink" in procs.log(kind)
    for message in ("INFO Starting Flower SuperLink",
                    "WARNING SuperNode authentication is disabled. The SuperLink will accept "
                    "connections from any SuperNode."):
        assert message in messages["cpp"] and message in messages["python"], messages


def test_log_file_that_cannot_be_opened_is_a_one_line_error(build_dir: Path, tmp_path: Path) -> None:
    out = run(build_dir, "--insecure", "--log-file", str(tmp_path / "missing" / "superlink.log"))
    assert out.returncode == 1, out
    assert out.stderr.strip().splitlines() == [
        f"flower-superlink: --log-file: cannot open '{tmp_path}/missing/superlink.log': No such "
        "file or directory"], out.stderr
